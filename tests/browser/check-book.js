// Opens every page of the built book (book/build) in headless Chromium, as a
// reader would, and fails on what a reader would see broken:
//   - a console error or an uncaught exception;
//   - an image or chart that did not load, or one without a text alternative;
//   - an internal link or #anchor that does not resolve;
//   - an {{#include}} left unresolved;
//   - any request to a host other than the local server (the book reads offline);
//   - a table or code block wider than the content column without a
//     horizontal scroll bar, and any table of the overhead chapter that needs
//     one (its compared columns must be visible without scrolling).
// It also drives the size explorer (types sizes and checks the numbers
// against `cookbook explain`, checks a few hundred sizes through the page's
// own logic, pastes a histogram and checks it against `cookbook histogram`),
// and saves screenshots of a few chapters.
//
// Usage: node check-book.js --book book/build --cookbook target/release/cookbook
//        --artifacts DIR [--chromium PATH]
// Run through tests/browser/run.sh, which builds the book and installs what is missing.
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");
const { execFileSync } = require("child_process");
const { chromium } = require("playwright-core");

function args() {
  const a = process.argv.slice(2);
  const o = {};
  for (let i = 0; i < a.length; i += 2) {
    if (!a[i].startsWith("--") || a[i + 1] === undefined) {
      console.error(`usage: node check-book.js --book DIR --cookbook BIN --artifacts DIR [--chromium PATH] (bad argument ${JSON.stringify(a[i])})`);
      process.exit(2);
    }
    o[a[i].slice(2)] = a[i + 1];
  }
  for (const k of ["book", "cookbook", "artifacts"]) {
    if (!o[k]) {
      console.error(`check-book.js: --${k} is missing`);
      process.exit(2);
    }
  }
  return o;
}

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
  ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json",
  ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".txt": "text/plain",
};

// A static server for the built book, on 127.0.0.1 only.
function serve(root) {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      const url = new URL(req.url, "http://x");
      let p = path.join(root, decodeURIComponent(url.pathname));
      if (!p.startsWith(root)) {
        res.writeHead(403).end();
        return;
      }
      if (fs.existsSync(p) && fs.statSync(p).isDirectory()) p = path.join(p, "index.html");
      fs.readFile(p, (err, body) => {
        if (err) {
          res.writeHead(404, { "content-type": "text/plain" }).end("not found");
          return;
        }
        res.writeHead(200, { "content-type": TYPES[path.extname(p)] || "application/octet-stream" }).end(body);
      });
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function htmlFiles(dir, base = dir) {
  let out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out = out.concat(htmlFiles(p, base));
    else if (e.name.endsWith(".html")) out.push(path.relative(base, p).split(path.sep).join("/"));
  }
  return out.sort();
}

// `cookbook explain` output, parsed: size -> fields.
function parseExplain(text) {
  const out = new Map();
  for (const block of text.trim().split(/\n\s*\n/)) {
    const lines = block.split("\n");
    let m = lines[0].match(/^(\d+) B: class (\d+) \((\d+) B\), (\d+) B wasted \(([\d.]+)%\)/);
    const e = {};
    if (m) {
      [, e.size, e.class, e.rounded, e.waste, e.waste_pct] = m;
    } else {
      m = lines[0].match(/^(\d+) B: large object \(over \d+ B\): \d+ whole pages = (\d+) B, (\d+) B wasted \(([\d.]+)%\)/);
      if (!m) throw new Error("cookbook explain printed a line this test cannot read: " + JSON.stringify(lines[0]));
      [, e.size, e.rounded, e.waste, e.waste_pct] = m;
      e.class = "0";
    }
    for (const l of lines.slice(1)) {
      let x;
      if ((x = l.match(/span: (\d+) B holds (\d+) objects; this object's share of the span tail: ([\d.]+) B/))) [, e.span_bytes, e.objects, e.tail_share] = x;
      else if ((x = l.match(/efficiency: ([\d.]+)%/))) e.efficiency = x[1];
      else if ((x = l.match(/free headroom: up to (\d+) B/))) e.same_class_max = x[1];
      else if ((x = l.match(/cheaper: (\d+) B lands one class lower and saves (\d+) B/))) [, e.smaller_fit, e.saving] = x;
    }
    out.set(Number(e.size), e);
  }
  return out;
}

async function main() {
  const o = args();
  const root = path.resolve(o.book);
  const artifacts = path.resolve(o.artifacts);
  fs.mkdirSync(artifacts, { recursive: true });
  const failures = [];
  const notes = [];
  const captionNotes = [];
  const fail = (page, what) => failures.push(`${page}: ${what}`);

  const server = await serve(root);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: o.chromium || undefined,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  let current = "";
  // Every request must go to the local server.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + "/") || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    fail(current, `requested a non-local URL ${url} (the book must read offline)`);
    return route.abort();
  });

  const pages = htmlFiles(root).filter((p) => p !== "toc.html");
  const ids = new Map(); // page -> Set of ids
  const links = []; // [from page, absolute url]
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") fail(current, `console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => fail(current, `uncaught exception: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400 && r.url().startsWith(origin)) fail(current, `HTTP ${r.status()} for ${r.url().slice(origin.length)}`);
  });
  page.on("requestfailed", (r) => {
    // ERR_ABORTED: the next navigation cancelled it (a favicon, say); a
    // missing file shows as an HTTP 404 above.
    const why = (r.failure() && r.failure().errorText) || "";
    if (r.url().startsWith(origin) && !why.includes("ERR_ABORTED")) fail(current, `request failed: ${r.url().slice(origin.length)} (${r.failure() && r.failure().errorText})`);
  });

  for (const p of pages) {
    current = p;
    await page.goto(`${origin}/${p}`, { waitUntil: "load" });
    await page.waitForLoadState("networkidle").catch(() => {});
    const r = await page.evaluate(() => {
      const main = document.querySelector("main") || document.body;
      const column = main.getBoundingClientRect();
      const images = [...document.images].map((i) => ({ src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0, alt: i.getAttribute("alt") || "" }));
      const text = main.innerText;
      const ids = [...document.querySelectorAll("[id]")].map((e) => e.id).concat([...document.querySelectorAll("a[name]")].map((e) => e.getAttribute("name")));
      const hrefs = [...document.querySelectorAll("a[href]")].map((a) => a.href);
      // Wide tables and code blocks: fine when they (or a wrapper inside the
      // column) scroll horizontally.
      const scrolls = (e) => ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
      const wide = [];
      const scrolled = [];
      for (const e of main.querySelectorAll("table, pre")) {
        const w = e.scrollWidth;
        if (w <= column.width + 1) continue;
        let ok = false;
        for (let a = e; a && a !== main.parentElement; a = a.parentElement) {
          if (scrolls(a) && a.getBoundingClientRect().width <= column.width + 1) ok = true;
        }
        if (e.tagName === "PRE" && e.querySelector("code") && scrolls(e.querySelector("code"))) ok = true;
        const head = e.tagName === "TABLE" ? [...e.querySelectorAll("th")].map((t) => t.innerText).join(" | ") : e.innerText.split("\n")[0];
        (ok ? scrolled : wide).push(`${e.tagName.toLowerCase()} ${Math.round(w)} px wide in a ${Math.round(column.width)} px column: ${head.slice(0, 90)}`);
      }
      // Each chart's text alternative: a caption right after it that links
      // to (or holds) its numbers.
      const charts = [...main.querySelectorAll('img[src$=".svg"]')].map((i) => {
        const next = (i.closest("p") || i).nextElementSibling;
        return { src: i.getAttribute("src"), caption: !!(next && next.classList.contains("chart-numbers") && next.querySelector("a, table")) };
      });
      return { images, text, ids, hrefs, wide, scrolled, charts, title: document.title };
    });
    ids.set(p, new Set(r.ids));
    for (const img of r.images) {
      if (!img.ok) fail(p, `image did not load: ${img.src}`);
      if (!img.alt.trim()) fail(p, `image without a text alternative (alt): ${img.src}`);
    }
    // Pages generated before charts had captions (bench results not yet
    // re-rendered) are noted; once a page has one caption, every chart needs one.
    const captioned = r.charts.some((c) => c.caption);
    for (const c of r.charts.filter((c) => !c.caption)) {
      if (captioned || p === "print.html") {
        if (p !== "print.html") fail(p, `chart without a link to its numbers: ${c.src}`);
      } else captionNotes.push(`${p}: ${c.src}`);
    }
    const inc = r.text.match(/\{\{#[a-z_]+[^}]*\}\}/);
    if (inc) fail(p, `unresolved mdBook directive ${inc[0]}`);
    for (const w of r.wide) fail(p, `${w} (no horizontal scroll bar)`);
    for (const w of r.scrolled) {
      if (p.endsWith("allocator/overhead.html")) fail(p, `${w}: the overhead chapter's compared columns must fit without scrolling`);
      else notes.push(p + ": " + w);
    }
    // mdBook's 404 page is served at any path: its links are not the book's.
    if (p !== "404.html") for (const h of r.hrefs) links.push([p, h]);
  }

  // On a phone-sized screen: the page itself must not scroll sideways
  // (wide tables and code blocks scroll inside their own boxes).
  current = "narrow screen";
  const narrow = await context.newPage();
  await narrow.setViewportSize({ width: 390, height: 800 });
  for (const p of pages) {
    await narrow.goto(`${origin}/${p}`, { waitUntil: "load" });
    // mdBook's body clips sideways overflow (overflow-x: hidden), so look
    // for content that ends past the screen outside any scrolling box.
    const over = await narrow.evaluate(() => {
      const inScroller = (e) => {
        for (let a = e.parentElement; a; a = a.parentElement) {
          if (a === document.body) return false;
          if (["auto", "scroll"].includes(getComputedStyle(a).overflowX)) return true;
        }
        return false;
      };
      const main = document.querySelector("main") || document.body;
      const culprit = [...main.querySelectorAll("*")].find((e) => {
        const b = e.getBoundingClientRect();
        return b.width > 0 && b.right > window.innerWidth + 1 && !inScroller(e);
      });
      if (!culprit) return null;
      const b = culprit.getBoundingClientRect();
      return `${Math.round(b.right - window.innerWidth)} px (${culprit.tagName.toLowerCase()}${culprit.id ? "#" + culprit.id : ""}: ${(culprit.textContent || "").trim().slice(0, 60)})`;
    });
    if (over) fail(p, `on a 390 px wide screen, content runs past the edge by ${over}`);
  }
  await narrow.close();

  // Internal links and anchors.
  const seen = new Set();
  for (const [from, href] of links) {
    if (!href.startsWith(origin)) continue;
    const u = new URL(href);
    const key = from + " " + u.pathname + u.hash;
    if (seen.has(key)) continue;
    seen.add(key);
    let target = decodeURIComponent(u.pathname).replace(/^\//, "");
    if (target === "" || target.endsWith("/")) target += "index.html";
    const file = path.join(root, target);
    if (!fs.existsSync(file)) {
      fail(from, `link to a missing page: ${u.pathname}${u.hash}`);
      continue;
    }
    if (u.hash && u.hash.length > 1 && target.endsWith(".html")) {
      const id = decodeURIComponent(u.hash.slice(1));
      const set = ids.get(target);
      if (set && !set.has(id)) fail(from, `link to a missing anchor: ${target}#${id}`);
    }
  }

  // The size explorer.
  current = "allocator/size-classes.html (size explorer)";
  const explorerPage = pages.find((p) => p.endsWith("size-classes.html"));
  if (!explorerPage) fail(current, "no size-class chapter");
  else await driveExplorer(page, `${origin}/${explorerPage}`, o.cookbook, fail, artifacts);

  // Screenshots of a few chapters.
  for (const p of ["index.html", "allocator/overhead.html", "recipes/pooling.html", "real-world.html"]) {
    if (!pages.includes(p)) continue;
    current = p;
    await page.goto(`${origin}/${p}`, { waitUntil: "load" });
    await page.screenshot({ path: path.join(artifacts, p.replace(/\//g, "-").replace(/\.html$/, ".png")), fullPage: false });
  }
  // The overhead chapter's selected-sizes tables, which must fit the column.
  await page.goto(`${origin}/allocator/overhead.html`, { waitUntil: "load" });
  const compared = page.locator("main table:visible").filter({ has: page.locator("th", { hasText: "jemalloc" }) });
  for (let i = 0; i < (await compared.count()); i++) {
    await compared.nth(i).screenshot({ path: path.join(artifacts, `overhead-table-${i + 1}.png`) });
  }
  // One chart on its own, as a reader zooms in on it.
  for (const [p, name] of [["allocator/overhead.html", "usable-compare"], ["allocator/overhead.html", "waste-sawtooth"], ["allocator/fragmentation.html", "fragmentation"], ["recipes/pooling.html", "pooling-64-b-buffers-one-thread"]]) {
    if (!pages.includes(p)) continue;
    await page.goto(`${origin}/${p}`, { waitUntil: "load" });
    const chart = page.locator(`img[src*="${name}"]`);
    if (await chart.count()) await chart.first().screenshot({ path: path.join(artifacts, `chart-${name}.png`) });
  }

  await browser.close();
  server.close();

  const counts = {};
  for (const n of notes) counts[n] = (counts[n] || 0) + 1;
  for (const [p, n] of Object.entries(counts)) console.log(`note (allowed, it has a horizontal scroll bar): ${p}${n > 1 ? ` (${n} times)` : ""}`);
  if (captionNotes.length) {
    console.log(`note: ${captionNotes.length} chart(s) on pages rendered before charts linked to their numbers (run cargo run --release -- book to re-render them), e.g. ${captionNotes[0]}`);
  }
  console.log(`\nchecked ${pages.length} pages, ${seen.size} distinct links; screenshots in ${artifacts}`);
  if (failures.length) {
    console.log(`\n${failures.length} problem(s):`);
    for (const f of failures) console.log(`  - ${f}`);
    console.log(`\n0 passed, 1 failed`);
    process.exit(1);
  }
  console.log("1 passed, 0 failed");
}

async function driveExplorer(page, url, cookbook, fail, artifacts) {
  const where = "size explorer";
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#se-out [data-k=rounded]", { timeout: 10000 }).catch(() => fail(where, "the explorer did not show an answer"));
  const typed = [1, 8, 9, 33, 100, 1025, 4097, 32768, 32769, 40000, 100000];
  const cli = parseExplain(execFileSync(cookbook, ["explain", ...typed.map(String)], { encoding: "utf8" }));
  for (const size of typed) {
    await page.fill("#se-size", String(size));
    const shown = await page.evaluate(() => {
      const o = {};
      for (const e of document.querySelectorAll("#se-out .se-explain [data-k]")) o[e.dataset.k] = e.textContent;
      return o;
    });
    const want = cli.get(size);
    for (const [k, v] of Object.entries(want)) {
      if (k === "class" && v === "0") continue; // a large object: the CLI names no class
      if (shown[k] !== v) fail(where, `typed ${size}: ${k} shows ${JSON.stringify(shown[k])}, cookbook explain says ${v}`);
    }
    for (const k of Object.keys(shown)) {
      if (!(k in want) && k !== "tail") fail(where, `typed ${size}: shows ${k} = ${shown[k]}, which cookbook explain does not print`);
    }
  }
  // A few hundred sizes through the page's own logic, against the CLI.
  const many = [];
  for (let s = 1; s <= 1100; s += 5) many.push(s);
  for (let s = 1024; s <= 70000; s += 997) many.push(s);
  const cliMany = parseExplain(execFileSync(cookbook, ["explain", ...many.map(String)], { encoding: "utf8" }));
  const pageMany = await page.evaluate((sizes) => sizes.map((s) => window.SizeExplorer.explain(window.SIZE_EXPLORER_DATA.tables[0], s)), many);
  let bad = 0;
  many.forEach((s, i) => {
    const want = cliMany.get(s);
    for (const [k, v] of Object.entries(want)) {
      if (String(pageMany[i][k]) !== v && bad++ < 10) fail(where, `size ${s}: ${k} page ${pageMany[i][k]}, cookbook explain ${v}`);
    }
  });
  if (many.length < 250) fail(where, `only ${many.length} sizes compared`);

  // Measured columns and the count.
  await page.fill("#se-size", "100");
  await page.fill("#se-count", "1000");
  const rows = await page.evaluate(() => [...document.querySelectorAll("#se-out tr[data-alloc]")].map((r) => [r.dataset.alloc, r.querySelector("[data-k=usable]").textContent, (r.querySelector("[data-k=total]") || {}).textContent]));
  const go = rows.find((r) => r[0] === "go");
  if (!go || go[1] !== cli.get(100).rounded || go[2] !== (Number(cli.get(100).rounded) * 1000).toLocaleString("en-US")) fail(where, `size 100 × 1000: Go row ${JSON.stringify(go)}`);
  const usable = execFileSync(cookbook, ["usable", "--max", "100", "--format", "tsv"], { encoding: "utf8" }).trim().split("\n");
  const head = usable[0].split("\t");
  const last = usable[usable.length - 1].split("\t");
  for (const key of ["goalloc", "mimalloc", "jemalloc"]) {
    const r = rows.find((x) => x[0] === key);
    const want = last[head.indexOf(key)];
    if (!r || r[1] !== want) fail(where, `size 100: ${key} shows ${r && r[1]}, cookbook usable says ${want}`);
  }
  const g = rows.find((x) => x[0] === "goalloc");
  if (!g) fail(where, "no row for GoAlloc's measured usable size");
  // Alignment.
  await page.fill("#se-count", "1");
  await page.fill("#se-size", "24");
  await page.fill("#se-align", "64");
  const al = await page.textContent("#se-out [data-k=aligned]").catch(() => "");
  if (!/class \d+ \(64 B\)/.test(al || "")) fail(where, `24 B aligned to 64: shows ${JSON.stringify(al)}`);
  await page.fill("#se-align", "3");
  if (!(await page.locator("#se-out .se-error").count())) fail(where, "alignment 3 was not reported as bad input");
  await page.fill("#se-align", "8");
  await page.fill("#se-size", "1025");
  await page.locator("#size-explorer").screenshot({ path: path.join(artifacts, "size-explorer.png") });

  // Paste a histogram.
  const hist = "33 1000\n1025 200\n24 5000\n# a comment\n40000\n";
  await page.fill("#se-hist", hist);
  const histCli = execFileSync(cookbook, ["histogram", "-"], { input: hist, encoding: "utf8" }).split("\n")[0];
  const m = histCli.match(/^(\d+) requests: (\d+) B requested, (\d+) B handed out, (\d+) B wasted \(([\d.]+)%\)/);
  if (!m) fail(where, `cookbook histogram printed a line this test cannot read: ${histCli}`);
  else {
    const goRow = await page.evaluate(() => {
      const r = document.querySelector("#se-hist-out tr[data-alloc=go]");
      return r && ["consumed", "wasted", "waste_pct"].map((k) => r.querySelector(`[data-k=${k}]`).textContent.replace(/,/g, ""));
    });
    const want = [m[3], m[4], m[5]];
    if (JSON.stringify(goRow) !== JSON.stringify(want)) fail(where, `histogram: Go row ${JSON.stringify(goRow)}, cookbook histogram ${JSON.stringify(want)}`);
    const perAlloc = await page.locator("#se-hist-out tr[data-alloc]").count();
    if (perAlloc < 4) fail(where, `histogram: ${perAlloc} allocator rows`);
  }
  await page.locator("#size-explorer-histogram").screenshot({ path: path.join(artifacts, "size-explorer-histogram.png") });
  await page.fill("#se-hist", "24\nabc\n");
  const err = await page.textContent("#se-hist-out .se-error").catch(() => "");
  if (!/line 2: size "abc" is not a whole number/.test(err || "")) fail(where, `bad histogram line: shows ${JSON.stringify(err)}`);
}

main().catch((e) => {
  console.error(e);
  console.log("0 passed, 1 failed");
  process.exit(1);
});
