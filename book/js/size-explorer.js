// The size explorer of the size-class chapter: "what happens to *my* size?"
//
// Plain JavaScript, loaded on every page through book.toml's `additional-js`;
// it does nothing unless the page has an element with id "size-explorer".
// It knows no table of its own: the class tables (Go's and the what-if
// tables) and the measured usable sizes of glibc, mimalloc and jemalloc come
// from generated/size-explorer-data.js, which `cargo run --release -- book`
// writes from the library (src/cli/explorer.rs). The rules below are those of
// src/analysis.rs (explain, advise, parse_histogram, waste_report) and of
// GoAlloc's route() in src/allocator/mod.rs; a test runs this file under node
// and compares its answers with theirs (src/cli/explorer.rs, tests/browser/).
//
// The pure functions are exported as `SizeExplorer` (window or node global).
(function (root) {
  "use strict";

  const SE = {};

  // Rust's `{:.N}`: the double's exact decimal value rounded to N places,
  // ties to even (JavaScript's toFixed breaks ties upwards).
  SE.fixed = function (x, digits) {
    if (!isFinite(x)) return String(x);
    const neg = x < 0;
    const exact = Math.abs(x).toFixed(100); // exact for every double this page meets
    const dot = exact.indexOf(".");
    let int = exact.slice(0, dot);
    const frac = exact.slice(dot + 1);
    let kept = int + frac.slice(0, digits);
    const next = frac.charCodeAt(digits) - 48;
    const rest = frac.slice(digits + 1);
    const tie = next === 5 && /^0*$/.test(rest);
    const lastEven = (kept.charCodeAt(kept.length - 1) - 48) % 2 === 0;
    if (next > 5 || (next === 5 && !tie) || (tie && !lastEven)) {
      // Add one unit in the last kept place.
      const d = kept.split("");
      let i = d.length - 1;
      while (i >= 0) {
        if (d[i] === "9") {
          d[i] = "0";
          i -= 1;
        } else {
          d[i] = String.fromCharCode(d[i].charCodeAt(0) + 1);
          break;
        }
      }
      kept = (i < 0 ? "1" : "") + d.join("");
    }
    const intLen = kept.length - digits;
    int = kept.slice(0, intLen).replace(/^0+(?=\d)/, "");
    const out = digits > 0 ? int + "." + kept.slice(intLen) : int;
    return (neg && /[1-9]/.test(out) ? "-" : "") + out;
  };

  // A byte count as the CLI reads one: 4096, 4k, 4KiB, 1M, 1MiB, 1G.
  SE.parseBytes = function (text) {
    const lower = String(text).trim().toLowerCase();
    let digits = lower;
    let mult = 1;
    const units = [
      ["kib", 1024], ["k", 1024], ["mib", 1 << 20], ["m", 1 << 20],
      ["gib", 1 << 30], ["g", 1 << 30], ["b", 1],
    ];
    for (const [suffix, m] of units) {
      if (lower.endsWith(suffix)) {
        digits = lower.slice(0, lower.length - suffix.length);
        mult = m;
        break;
      }
    }
    digits = digits.trim();
    if (!/^\+?[0-9]+$/.test(digits)) {
      return { error: JSON.stringify(String(text)) + " is not a byte count (e.g. 4096, 4KiB, 1MiB)" };
    }
    const n = Number(digits) * mult;
    if (!Number.isSafeInteger(n)) {
      return { error: JSON.stringify(String(text)) + " is too large for this page (use cargo run --release -- explain)" };
    }
    return { value: n };
  };

  // The class row for a request under one table: the smallest class that
  // holds it (what SizeClassTable::class_of returns), or a large object.
  SE.lookup = function (table, size) {
    const cls = table.classes;
    if (size <= table.max_small) {
      let lo = 0;
      let hi = cls.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cls[mid][0] >= size) hi = mid;
        else lo = mid + 1;
      }
      const [rounded, span, objects] = cls[lo];
      return { class: lo + 1, rounded, span_bytes: span, objects };
    }
    const page = table.page_size;
    const rounded = Math.max(1, Math.ceil(size / page)) * page;
    return { class: 0, rounded, span_bytes: rounded, objects: 1 };
  };

  function explainRow(size, row) {
    const tail = row.span_bytes - row.rounded * row.objects;
    const tailShare = tail / row.objects;
    const waste = row.rounded - size;
    const wastePct = (100 * waste) / row.rounded;
    const efficiency = size / (row.rounded + tailShare);
    return {
      size,
      class: row.class,
      rounded: row.rounded,
      waste,
      waste_pct: SE.fixed(wastePct, 2),
      objects: row.objects,
      span_bytes: row.span_bytes,
      tail,
      tail_share: SE.fixed(tailShare, 1),
      efficiency: SE.fixed(100 * efficiency, 1),
    };
  }

  // analysis::explain_in + analysis::advise for one request.
  SE.explain = function (table, size) {
    const e = explainRow(size, SE.lookup(table, size));
    let smaller = null;
    if (e.class === 0) smaller = table.max_small < size ? table.max_small : null;
    else if (e.class > 1) smaller = table.classes[e.class - 2][0];
    e.same_class_max = e.rounded;
    e.smaller_fit = smaller;
    e.saving = smaller === null ? 0 : e.rounded - smaller;
    return e;
  };

  // GoAlloc's route() for an alignment above 8: the first class at least
  // max(size, align) whose size is a multiple of align; else whole pages.
  SE.aligned = function (table, size, align, minAlign) {
    if (align <= minAlign) return explainRow(size, SE.lookup(table, size));
    if (align <= table.page_size && size <= table.max_small) {
      const start = SE.lookup(table, Math.max(size, align));
      for (let c = start.class; c >= 1 && c <= table.classes.length; c++) {
        const [rounded, span, objects] = table.classes[c - 1];
        if (rounded % align === 0) return explainRow(size, { class: c, rounded, span_bytes: span, objects });
      }
    }
    const page = table.page_size;
    const rounded = Math.max(1, Math.ceil(size / page)) * page;
    return explainRow(size, { class: 0, rounded, span_bytes: rounded, objects: 1 });
  };

  // A measured usable size from its runs ([first last, first usable, step,
  // count] segments, see src/cli/explorer.rs); null where nothing was measured.
  SE.usable = function (runs, size) {
    if (!runs) return null;
    let lo = 0;
    let hi = runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const [l0, , step, count] = runs[mid];
      if (l0 + step * (count - 1) >= size) hi = mid;
      else lo = mid + 1;
    }
    if (lo === runs.length) return null;
    const [l0, u0, step] = runs[lo];
    const k = size <= l0 ? 0 : Math.ceil((size - l0) / step);
    return u0 + k * step;
  };

  // analysis::parse_histogram: `size` or `size count` per line, `#` comments.
  SE.parseHistogram = function (text) {
    const rows = [];
    const lines = String(text).split("\n");
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].replace(/\r$/, "").split("#")[0].trim();
      if (line === "") continue;
      const err = (m) => ({ error: "line " + (i + 1) + ": " + m });
      const fields = line.split(/\s+/);
      const whole = (s) => /^\+?[0-9]+$/.test(s);
      if (!whole(fields[0])) return err("size " + JSON.stringify(fields[0]) + " is not a whole number");
      const size = Number(fields[0]);
      if (size === 0) return err("size 0 is not a request");
      let count = 1n;
      if (fields.length > 1) {
        if (!whole(fields[1])) return err("count " + JSON.stringify(fields[1]) + " is not a whole number");
        count = BigInt(fields[1].replace(/^\+/, ""));
      }
      if (fields.length > 2) {
        return err("unexpected " + JSON.stringify(fields[2]) + ": expected `size` or `size count`");
      }
      if (!Number.isSafeInteger(size)) return err("size " + fields[0] + " is too large for this page");
      rows.push([size, count]);
    }
    return { rows };
  };

  // analysis::waste_report under one table, plus the same totals for each
  // measured allocator (null where a size lies above the measured range).
  SE.wasteReport = function (data, table, rows) {
    const byClass = new Map();
    let count = 0n;
    let requested = 0n;
    let consumed = 0n;
    const measured = {};
    for (const a of data.measured.allocators) measured[a.key] = a.runs ? 0n : null;
    for (const [size, n] of rows) {
      const e = SE.lookup(table, size);
      const key = e.class;
      const c = byClass.get(key) || { class: e.class, class_size: e.class === 0 ? 0 : e.rounded, count: 0n, requested: 0n, consumed: 0n };
      c.count += n;
      c.requested += BigInt(size) * n;
      c.consumed += BigInt(e.rounded) * n;
      byClass.set(key, c);
      count += n;
      requested += BigInt(size) * n;
      consumed += BigInt(e.rounded) * n;
      for (const a of data.measured.allocators) {
        if (measured[a.key] === null) continue;
        const u = SE.usable(a.runs, size);
        measured[a.key] = u === null ? null : measured[a.key] + BigInt(u) * n;
      }
    }
    const classes = [...byClass.values()];
    classes.sort((a, b) => {
      const wa = a.consumed - a.requested;
      const wb = b.consumed - b.requested;
      if (wa !== wb) return wa > wb ? -1 : 1;
      return a.class - b.class;
    });
    const pct = (used) => (used === 0n ? SE.fixed(0, 2) : SE.fixed((100 * Number(used - requested)) / Number(used), 2));
    return { count, requested, consumed, waste_pct: pct(consumed), classes, measured, pct };
  };

  root.SizeExplorer = SE;

  // ---------------------------------------------------------------- the page
  if (typeof document === "undefined") return;

  const thisScript = document.currentScript;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  }
  // Text with `code` spans, as nodes.
  function prose(text) {
    return String(text).split("`").map((part, i) => (i % 2 ? el("code", { text: part }) : document.createTextNode(part)));
  }
  const num = (n) => Number(n).toLocaleString("en-US");
  const cell = (key, text) => el("td", { "data-k": key, text: String(text) });

  function table(head, rows) {
    const t = el("table", {});
    const tr = el("tr", {});
    for (const h of head) tr.append(el("th", { text: h }));
    t.append(el("thead", {}, tr));
    const body = el("tbody", {});
    for (const r of rows) body.append(r);
    t.append(body);
    return el("div", { class: "table-wrapper" }, t);
  }

  function build(box, data) {
    const go = data.tables[0];
    const form = el("form", { class: "se-form" });
    form.addEventListener("submit", (ev) => ev.preventDefault());
    const field = (label, id, value, help) => {
      const input = el("input", { id, name: id, value, type: "text", inputmode: "numeric", autocomplete: "off", "aria-describedby": id + "-help" });
      form.append(el("label", { for: id }, label), input, el("small", { id: id + "-help", text: help }));
      return input;
    };
    const sizeIn = field("Request size", "se-size", "33", "bytes; 4KiB and 1MiB work too");
    const alignIn = field("Alignment", "se-align", String(data.min_align), "a power of two; " + data.min_align + " or less is the default");
    const countIn = field("Count", "se-count", "1", "how many such objects");
    const out = el("div", { id: "se-out", "aria-live": "polite" });
    box.replaceChildren(form, out);

    function update() {
      out.replaceChildren();
      const p = SE.parseBytes(sizeIn.value);
      const a = SE.parseBytes(alignIn.value);
      const c = /^\s*[0-9]+\s*$/.test(countIn.value) ? Number(countIn.value) : NaN;
      const problems = [];
      if (p.error) problems.push("size " + p.error);
      else if (p.value === 0) problems.push("size 0: a zero-byte request never reaches the allocator");
      if (a.error) problems.push("alignment " + a.error);
      else if (a.value === 0 || (a.value & (a.value - 1)) !== 0) problems.push("alignment " + alignIn.value.trim() + " is not a power of two");
      if (!Number.isSafeInteger(c) || c < 1) problems.push("count " + JSON.stringify(countIn.value) + " is not a whole number of at least 1");
      if (problems.length) {
        out.append(el("p", { class: "se-error", role: "alert", text: problems.join("; ") }));
        return;
      }
      const size = p.value;
      const align = Math.max(a.value, 1);
      const e = SE.explain(go, size);
      const span = (k, v) => el("span", { "data-k": k, text: String(v) });
      const line = (...kids) => el("li", {}, ...kids);
      const list = el("ul", { class: "se-explain" });
      if (e.class === 0) {
        list.append(line(span("size", size), " B: large object (over " + go.max_small + " B): " + e.rounded / go.page_size + " whole pages = ", span("rounded", e.rounded), " B, ", span("waste", e.waste), " B wasted (", span("waste_pct", e.waste_pct), "%)"));
      } else {
        list.append(line(span("size", size), " B: class ", span("class", e.class), " (", span("rounded", e.rounded), " B), ", span("waste", e.waste), " B wasted (", span("waste_pct", e.waste_pct), "%)"));
        list.append(line("span: ", span("span_bytes", e.span_bytes), " B holds ", span("objects", e.objects), " objects; span tail waste ", span("tail", e.tail), " B, this object's share ", span("tail_share", e.tail_share), " B"));
      }
      list.append(line("efficiency: ", span("efficiency", e.efficiency), "% of the memory consumed is what was asked for"));
      if (e.waste > 0) list.append(line("free headroom: up to ", span("same_class_max", e.same_class_max), " B costs the same"));
      if (e.smaller_fit !== null) list.append(line("cheaper: ", span("smaller_fit", e.smaller_fit), " B lands one class lower and saves ", span("saving", e.saving), " B per object"));
      out.append(el("h4", { text: "Go's classes (what GoAlloc rounds to)" }), list);

      const goAligned = SE.aligned(go, size, align, data.min_align);
      if (align > data.min_align) {
        out.append(el("p", { "data-k": "aligned" }, "Aligned to " + align + " B, GoAlloc takes " + (goAligned.class === 0 ? "whole pages: " + goAligned.rounded + " B" : "class " + goAligned.class + " (" + goAligned.rounded + " B), the first class at least that large whose size is a multiple of " + align) + "."));
      }
      if (size < data.tiny.block && align <= data.tiny.max_align) {
        out.append(el("p", { class: "se-note" }, ...prose("Under " + data.tiny.block + " B with no alignment above " + data.tiny.max_align + ", GoAlloc serves this request from its tiny allocator: such requests share " + data.tiny.block + "-byte blocks. The class above is Go's class for the size alone, as `cookbook explain` reports it.")));
      }

      // Usable size per allocator, and the totals for the count.
      const rows = [];
      const addRow = (key, name, usable, note) => {
        const tr = el("tr", { "data-alloc": key });
        tr.append(el("td", { text: name }));
        if (usable === null) {
          tr.append(el("td", { colspan: "5", "data-k": "usable", class: "se-note" }, ...prose(note)));
        } else {
          const w = usable - size;
          tr.append(cell("usable", usable), cell("waste", w), cell("waste_pct", SE.fixed((100 * w) / usable, 1)),
            cell("total", num(usable * c)), cell("total_waste", num(w * c)));
        }
        rows.push(tr);
      };
      addRow("go", "Go's classes (GoAlloc's rounding)", goAligned.rounded);
      const m = data.measured;
      for (const alloc of m.allocators) {
        let u = null;
        let note = "";
        if (!alloc.runs) note = "not measured yet (needs GoAlloc's malloc_usable_size; fills in when `cookbook book` can measure it)";
        else if (align > data.min_align) note = "measured only for the default alignment";
        else if (size > m.max) note = "not measured above " + m.max + " B: `cookbook explain` shows the model";
        else u = SE.usable(alloc.runs, size);
        addRow(alloc.key, alloc.name, u, note);
      }
      out.append(el("h4", { text: "Usable size and waste per allocator" }),
        table(["allocator", "usable B", "waste B", "waste %", num(c) + (c === 1 ? " object" : " objects") + ": bytes", "of which wasted"], rows),
        el("p", { class: "se-note" }, ...prose("glibc, mimalloc and jemalloc: " + m.how + ", when the book was generated. glibc's usable size depends on history (a reused chunk can be larger), so a program may see more.")));

      // The what-if tables.
      const wrows = data.tables.slice(1).map((t, j) => {
        const i = j + 1;
        const x = SE.aligned(t, size, align, data.min_align);
        const tr = el("tr", { "data-table": String(i) });
        const own = t.page_size === go.page_size && t.max_small === go.max_small;
        tr.append(el("td", { text: t.name + (own ? " (Go's own)" : "") }), cell("class", x.class === 0 ? "large" : x.class), cell("rounded", x.rounded),
          cell("waste", x.waste + " (" + x.waste_pct + "%)"), cell("objects", x.objects), cell("tail", x.tail));
        return tr;
      });
      out.append(el("h4", { text: "The same request under the what-if tables" }),
        table(["table", "class", "class size B", "waste B", "objects per span", "span tail waste B"], wrows));
    }
    for (const i of [sizeIn, alignIn, countIn]) i.addEventListener("input", update);
    update();
  }

  function buildHistogram(box, data) {
    const go = data.tables[0];
    const area = el("textarea", { id: "se-hist", rows: "6", spellcheck: "false", "aria-label": "request sizes, one per line: size or size count" });
    area.value = "33 1000\n1025 200\n24 5000\n";
    const out = el("div", { id: "se-hist-out", "aria-live": "polite" });
    box.replaceChildren(el("label", { for: "se-hist" }, ...prose("One request size per line, `size` or `size count`; `#` starts a comment (the format of `cookbook histogram`):")), area, out);
    function update() {
      out.replaceChildren();
      const h = SE.parseHistogram(area.value);
      if (h.error) {
        out.append(el("p", { class: "se-error", role: "alert", text: h.error }));
        return;
      }
      if (!h.rows.length) {
        out.append(el("p", { class: "se-note", text: "No request sizes yet." }));
        return;
      }
      const r = SE.wasteReport(data, go, h.rows);
      out.append(el("p", { "data-k": "summary" }, num(r.count) + " requests: " + num(r.requested) + " B requested."));
      const rows = [];
      const addRow = (key, name, used, note) => {
        const tr = el("tr", { "data-alloc": key });
        tr.append(el("td", { text: name }));
        if (used === null) tr.append(el("td", { colspan: "3", text: note }));
        else tr.append(cell("consumed", num(used)), cell("wasted", num(used - r.requested)), cell("waste_pct", r.pct(used)));
        rows.push(tr);
      };
      addRow("go", "Go's classes (GoAlloc's rounding)", r.consumed);
      for (const a of data.measured.allocators) {
        addRow(a.key, a.name, r.measured[a.key], a.runs ? "a size is above the measured range (" + data.measured.max + " B)" : "not measured yet");
      }
      out.append(table(["allocator", "bytes handed out", "bytes wasted", "waste %"], rows));
      const crow = r.classes.slice(0, 10).map((c) => {
        const tr = el("tr", {});
        tr.append(cell("class", c.class), cell("class_size", c.class === 0 ? "large" : c.class_size), cell("count", num(c.count)),
          cell("requested", num(c.requested)), cell("consumed", num(c.consumed)), cell("wasted", num(c.consumed - c.requested)));
        return tr;
      });
      out.append(el("p", { text: "Under Go's classes, the classes that waste most:" }),
        table(["class", "size", "requests", "requested", "handed out", "wasted"], crow));
    }
    area.addEventListener("input", update);
    update();
  }

  function start() {
    const box = document.getElementById("size-explorer");
    const hist = document.getElementById("size-explorer-histogram");
    if (!box && !hist) return;
    const show = () => {
      const data = root.SIZE_EXPLORER_DATA;
      if (!data) {
        for (const b of [box, hist]) if (b) b.textContent = "The size explorer's data (generated/size-explorer-data.js) did not load: run cargo run --release -- book --no-bench.";
        return;
      }
      if (box) build(box, data);
      if (hist) buildHistogram(hist, data);
    };
    if (root.SIZE_EXPLORER_DATA) return show();
    // The data sits beside the book's generated tables: <root>/generated/,
    // this script is <root>/js/size-explorer.js.
    const s = document.createElement("script");
    s.src = new URL("../generated/size-explorer-data.js", thisScript.src).href;
    s.onload = show;
    s.onerror = show;
    document.head.append(s);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(typeof window !== "undefined" ? window : globalThis);
