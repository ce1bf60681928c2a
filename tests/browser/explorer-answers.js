// Runs the size explorer's logic (book/js/size-explorer.js) under node on a
// data file and prints its answers as JSON, for the test in src/cli/explorer.rs.
// Usage: node explorer-answers.js SCRIPT DATA INPUT.json
"use strict";
const fs = require("fs");
const vm = require("vm");
const [script, data, input] = process.argv.slice(2);
const ctx = { console };
ctx.window = ctx;
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(data, "utf8"), ctx, { filename: data });
vm.runInContext(fs.readFileSync(script, "utf8"), ctx, { filename: script });
const SE = ctx.SizeExplorer;
const D = ctx.SIZE_EXPLORER_DATA;
const { sizes, aligns, histogram } = JSON.parse(fs.readFileSync(input, "utf8"));
const usable = sizes.map((s) => {
  const o = {};
  for (const a of D.measured.allocators) o[a.key] = s <= D.measured.max ? SE.usable(a.runs, s) : null;
  return o;
});
const h = SE.parseHistogram(histogram);
const r = SE.wasteReport(D, D.tables[0], h.rows);
const out = {
  explain: D.tables.map((t) => sizes.map((s) => SE.explain(t, s))),
  usable,
  aligned: aligns.map((a) => sizes.map((s) => SE.aligned(D.tables[0], s, a, D.min_align))),
  histogram: { count: Number(r.count), requested: Number(r.requested), consumed: Number(r.consumed), waste_pct: r.waste_pct },
  bad_histogram: SE.parseHistogram("24\nabc 3\n"),
};
process.stdout.write(JSON.stringify(out));
