//! Minimal SVG charts for the book: line charts and grouped bar charts.
//!
//! Hand-written rather than a plotting crate: the book needs two chart kinds,
//! and plain SVG text keeps the CLI's build small and the output diffable.

use std::fmt::Write;

const W: f64 = 760.0;
const H: f64 = 400.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 56.0;
/// Colours for series that are not an allocator (Okabe-Ito, readable with
/// the common colour-vision deficiencies).
const COLORS: [&str; 4] = ["#e69f00", "#56b4e9", "#000000", "#8c564b"];

/// Each allocator's colour, the same in every chart of the book: a series
/// is matched by the allocator its name starts with ("glibc (measured)",
/// "system", "Go classes", "goalloc").
const ALLOCATOR_COLORS: [(&[&str], &str); 4] = [
    (&["goalloc", "go "], "#0072b2"),
    (&["system", "glibc"], "#d55e00"),
    (&["mimalloc"], "#009e73"),
    (&["jemalloc"], "#cc79a7"),
];

/// The colour of the series `name`, the `i`-th of its chart.
pub fn color(name: &str, i: usize) -> &'static str {
    let lower = format!("{} ", name.to_ascii_lowercase());
    ALLOCATOR_COLORS
        .iter()
        .find(|(keys, _)| keys.iter().any(|k| lower.starts_with(k)))
        .map_or(COLORS[i % COLORS.len()], |(_, c)| c)
}

/// One named series of points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed, so a series that lies on another stays visible.
    pub dashed: bool,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A "nice" step for about `n` ticks over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Formats a tick value compactly (1.5k, 2M, 0.25).
pub fn short_num(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.fract().abs() < 1e-9 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{suffix}")
}

/// The chart's frame: a titled, described SVG (`role="img"`, `<title>`,
/// `<desc>`: what a screen reader says when the SVG is opened on its own;
/// in the book, the image's alt text and the link to its table say it).
fn frame(out: &mut String, title: &str, desc: &str, x_label: &str, y_label: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="12" role="img" aria-labelledby="chart-title chart-desc">
<title id="chart-title">{}</title>
<desc id="chart-desc">{}</desc>
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>
"#,
        esc(title),
        esc(desc),
        (LEFT + W - RIGHT) / 2.0,
        esc(title),
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0,
        esc(x_label),
        (TOP + H - BOTTOM) / 2.0,
        esc(y_label)
    );
}

/// How one series is drawn (line charts): its swatch in the legend matches.
#[derive(Clone, Copy)]
struct Stroke {
    color: &'static str,
    width: f64,
    dash: Option<&'static str>,
    opacity: f64,
}

/// One legend entry: a name, an optional second line (smaller), and its swatch.
struct Entry<'a> {
    name: &'a str,
    note: Option<String>,
    stroke: Option<Stroke>, // None: a filled box (bar charts)
    color: &'static str,
}

/// The legend sits in the right margin, outside the plot area, so it never
/// covers data.
fn legend(out: &mut String, entries: &[Entry]) {
    let x = W - RIGHT + 14.0;
    let mut y = TOP + 10.0;
    for e in entries {
        match e.stroke {
            Some(st) => {
                let _ = writeln!(
                    out,
                    r#"<line x1="{x}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="{}" stroke-opacity="{}"{}/>"#,
                    x + 16.0,
                    y - 4.0,
                    y - 4.0,
                    st.color,
                    st.width,
                    st.opacity,
                    st.dash
                        .map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#))
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    r#"<rect x="{x}" y="{}" width="14" height="10" fill="{}"/>"#,
                    y - 9.0,
                    e.color
                );
            }
        }
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{y}">{}</text>"#,
            x + 20.0,
            esc(e.name)
        );
        y += 20.0;
        if let Some(note) = &e.note {
            for line in wrap(note, 24) {
                let _ = writeln!(
                    out,
                    r##"<text x="{}" y="{}" font-size="10" fill="#555">{}</text>"##,
                    x + 20.0,
                    y - 6.0,
                    esc(&line)
                );
                y += 12.0;
            }
            y += 4.0;
        }
    }
}

/// Pairs of series (`i < j`) that lie on each other (closer than 1 % of the
/// vertical range, about 3 pixels) for at least nine in ten of their
/// points: drawn so that both stay visible. (Lines that only cross or touch
/// now and then are told apart by their colours.)
fn overlapping(series: &[Series]) -> Vec<(usize, usize)> {
    let top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1.abs()))
        .fold(0.0, f64::max);
    let close = (top * 0.01).max(1e-9);
    let mut pairs = Vec::new();
    for i in 0..series.len() {
        for j in i + 1..series.len() {
            let (a, b) = (&series[i].points, &series[j].points);
            if a.is_empty() || a.len() != b.len() {
                continue;
            }
            let same = a
                .iter()
                .zip(b)
                .filter(|(p, q)| p.0 == q.0 && (p.1 - q.1).abs() < close)
                .count();
            if 10 * same >= 9 * a.len() {
                pairs.push((i, j));
            }
        }
    }
    pairs
}

fn y_axis(out: &mut String, y_max: f64) -> f64 {
    let step = nice_step(y_max, 5.0);
    let top = (y_max / step).ceil().max(1.0) * step;
    let plot_h = H - TOP - BOTTOM;
    let mut v = 0.0;
    while v <= top + step * 0.01 {
        let y = H - BOTTOM - v / top * plot_h;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            short_num(v)
        );
        v += step;
    }
    top
}

/// A line chart; `log2_x` spaces the x axis by powers of two.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log2_x: bool,
) -> String {
    let mut out = String::new();
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    let desc = format!(
        "Line chart. Horizontal axis: {x_label}. Vertical axis: {y_label}. One line each for: {}.",
        names.join(", ")
    );
    frame(&mut out, title, &desc, x_label, y_label);
    let tx = |x: f64| if log2_x { x.max(1.0).log2() } else { x };
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0f64);
    for &(x, y) in pts {
        x0 = x0.min(tx(x));
        x1 = x1.max(tx(x));
        y1 = y1.max(y);
    }
    if x0 >= x1 {
        x1 = x0 + 1.0;
    }
    let top = y_axis(&mut out, if y1 > 0.0 { y1 } else { 1.0 });
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let px = |x: f64| LEFT + (tx(x) - x0) / (x1 - x0) * plot_w;
    let py = |y: f64| H - BOTTOM - y / top * plot_h;
    // x ticks
    if log2_x {
        let mut e = x0.ceil() as i32;
        while (e as f64) <= x1 {
            let x = 2f64.powi(e);
            let label = if x >= 1024.0 * 1024.0 {
                format!("{} MiB", short_num(x / 1048576.0))
            } else if x >= 1024.0 {
                format!("{} KiB", short_num(x / 1024.0))
            } else {
                short_num(x)
            };
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{label}</text>"#,
                px(x),
                H - BOTTOM + 16.0,
            );
            e += if x1 - x0 > 12.0 { 2 } else { 1 };
        }
    } else {
        let step = nice_step(x1 - x0, 6.0);
        let mut v = (x0 / step).ceil() * step;
        while v <= x1 + step * 0.01 {
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                px(v),
                H - BOTTOM + 16.0,
                short_num(v)
            );
            v += step;
        }
    }
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="#333"/><line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#333"/>"##,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM
    );
    // Strokes: a series that lies on another is drawn dashed on top of it,
    // the other wide and pale beneath, so both stay visible.
    let mut strokes: Vec<Stroke> = series
        .iter()
        .enumerate()
        .map(|(i, s)| Stroke {
            color: color(&s.name, i),
            width: if i == 0 { 2.0 } else { 1.6 },
            dash: s.dashed.then_some("5,4"),
            opacity: 1.0,
        })
        .collect();
    let mut notes: Vec<Option<String>> = vec![None; series.len()];
    for (i, j) in overlapping(series) {
        strokes[j].width = 5.0;
        strokes[j].opacity = 0.55;
        strokes[i].dash = Some("6,4");
        strokes[i].width = 2.0;
        notes[i] = Some(format!("dashed: lies on {}", series[j].name));
    }
    // Drawn last-first, so the first series is on top.
    for (i, s) in series.iter().enumerate().rev() {
        let mut d = String::new();
        for (j, &(x, y)) in s.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if j == 0 { "M" } else { " L" },
                px(x),
                py(y)
            );
        }
        let st = strokes[i];
        let _ = writeln!(
            out,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="{}" stroke-opacity="{}"{}><title>{}</title></path>"#,
            st.color,
            st.width,
            st.opacity,
            st.dash
                .map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#)),
            esc(&s.name)
        );
    }
    let entries: Vec<Entry> = series
        .iter()
        .enumerate()
        .map(|(i, s)| Entry {
            name: &s.name,
            note: notes[i].clone(),
            stroke: Some(strokes[i]),
            color: strokes[i].color,
        })
        .collect();
    legend(&mut out, &entries);
    out.push_str("</svg>\n");
    out
}

/// Splits `text` at spaces into at most three lines of about `width`
/// characters; the last line is cut with an ellipsis if the text is longer.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    if lines.len() > 3 {
        lines.truncate(3);
        lines[2].push('…');
    }
    for line in &mut lines {
        if line.chars().count() > width + 4 {
            *line = line.chars().take(width + 3).chain(['…']).collect();
        }
    }
    lines
}

/// A grouped bar chart: one group of bars per category, one bar per series.
/// Missing values (`None`) leave a gap.
pub fn bar_chart(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<Option<f64>>)],
) -> String {
    let mut out = String::new();
    let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
    let desc = format!(
        "Bar chart. {} cases ({}); one bar per case for each of: {}. Vertical axis: {y_label}.",
        categories.len(),
        categories.join("; "),
        names.join(", ")
    );
    frame(&mut out, title, &desc, "", y_label);
    let mut values: Vec<f64> = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .collect();
    values.sort_by(f64::total_cmp);
    let y1 = values.last().copied().unwrap_or(0.0);
    // One bar far above the rest (a case that is 200x slower) would flatten
    // every other bar: cap the axis and write the true value on a clipped bar.
    let median = values.get(values.len() / 2).copied().unwrap_or(0.0);
    let cap = if median > 0.0 && y1 > 6.0 * median {
        4.0 * median
    } else {
        y1
    };
    let top = y_axis(&mut out, if cap > 0.0 { cap } else { 1.0 });
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = categories.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.8 / series.len().max(1) as f64).min(40.0);
    // Category labels wrap onto up to three lines that fit the slot.
    let per_line = ((slot / 6.0) as usize).max(6);
    for (ci, cat) in categories.iter().enumerate() {
        let x_mid = LEFT + slot * (ci as f64 + 0.5);
        let x_start = x_mid - bar * series.len() as f64 / 2.0;
        for (si, (_, values)) in series.iter().enumerate() {
            if let Some(Some(v)) = values.get(ci) {
                let clipped = *v > top;
                let h = v.min(top) / top * plot_h;
                let x = x_start + bar * si as f64;
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                    H - BOTTOM - h,
                    bar * 0.92,
                    color(&series[si].0, si),
                    esc(cat),
                    short_num(*v)
                );
                if clipped {
                    let _ = writeln!(
                        out,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}↑</text>"#,
                        x + bar * 0.46,
                        H - BOTTOM - h + 12.0,
                        short_num(*v)
                    );
                }
            }
        }
        for (li, line) in wrap(cat, per_line).iter().enumerate() {
            let _ = writeln!(
                out,
                r#"<text x="{x_mid:.1}" y="{}" text-anchor="middle" font-size="10">{}</text>"#,
                H - BOTTOM + 14.0 + 12.0 * li as f64,
                esc(line)
            );
        }
    }
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#333"/>"##,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM
    );
    let entries: Vec<Entry> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Entry {
            name: n,
            note: None,
            stroke: None,
            color: color(n, i),
        })
        .collect();
    legend(&mut out, &entries);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg() {
        let s = line_chart(
            "t",
            "x",
            "y",
            &[Series {
                name: "a<b".into(),
                points: vec![(1.0, 2.0), (1024.0, 5.0)],
                dashed: false,
            }],
            true,
        );
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("a&lt;b"));
        let b = bar_chart(
            "t",
            "ns",
            &["x".into(), "y".into()],
            &[("s".into(), vec![Some(1.0), None])],
        );
        assert_eq!(b.matches("<rect x=").count(), 2); // one bar + one legend swatch
    }

    #[test]
    fn an_allocator_has_one_colour_in_every_chart() {
        assert_eq!(color("glibc (measured)", 1), color("system", 0));
        assert_eq!(color("Go classes", 0), color("goalloc", 1));
        assert_eq!(color("mimalloc (measured)", 2), color("mimalloc", 0));
        assert_ne!(color("jemalloc", 3), color("mimalloc", 2));
        assert_ne!(color("Gopher", 0), color("goalloc", 0)); // "go " is a word
        let b = bar_chart(
            "t",
            "ns",
            &["x".into()],
            &[
                ("mimalloc".into(), vec![Some(1.0)]),
                ("system".into(), vec![Some(2.0)]),
            ],
        );
        let l = line_chart(
            "t",
            "x",
            "y",
            &[
                Series {
                    name: "glibc (measured)".into(),
                    points: vec![(1.0, 1.0), (2.0, 3.0)],
                    dashed: false,
                },
                Series {
                    name: "mimalloc (measured)".into(),
                    points: vec![(1.0, 2.0), (2.0, 1.0)],
                    dashed: false,
                },
            ],
            true,
        );
        for c in [color("mimalloc", 0), color("system", 0)] {
            assert!(b.contains(c) && l.contains(c), "{c}");
        }
    }

    #[test]
    fn lines_that_coincide_stay_visible() {
        let pts: Vec<(f64, f64)> = (1..20).map(|i| (i as f64, (i % 5) as f64)).collect();
        let s = line_chart(
            "t",
            "x",
            "y",
            &[
                Series {
                    name: "mimalloc".into(),
                    points: pts.clone(),
                    dashed: false,
                },
                Series {
                    name: "jemalloc".into(),
                    points: pts,
                    dashed: false,
                },
            ],
            false,
        );
        assert!(s.contains("stroke-dasharray"), "the upper line is dashed");
        assert!(s.contains(r#"stroke-width="5""#), "the lower one is wide");
        assert!(s.contains("lies on jemalloc"), "the legend says so");
        assert!(s.contains("<title id=\"chart-title\">t</title>") && s.contains("<desc"));
    }

    #[test]
    fn labels_wrap() {
        assert_eq!(wrap("object-pool crate", 12), ["object-pool", "crate"]);
        assert_eq!(wrap("a b c d e f g h", 1).len(), 3);
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_num(1500.0), "1500");
        assert_eq!(short_num(15000.0), "15k");
        assert_eq!(short_num(2_000_000.0), "2M");
        assert_eq!(short_num(0.25), "0.25");
    }
}
