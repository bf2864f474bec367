// The console's trend charts (chalicelib/console/static/charts.js) under Node's test runner, on a small
// fake DOM (elements, attributes, text and simple selectors: enough for what charts.js builds).
// Run: TZ=Asia/Kolkata node --test tests/js/charts.test.mjs (tests/unit/test_console_charts_js.py does).
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

class FakeNode {
  constructor(tag, ns) {
    this.tagName = tag;
    this.namespaceURI = ns;
    this.attributes = new Map();
    this.childNodes = [];
    this.parentNode = null;
  }
  setAttribute(k, v) {
    this.attributes.set(k, String(v));
  }
  getAttribute(k) {
    return this.attributes.has(k) ? this.attributes.get(k) : null;
  }
  hasAttribute(k) {
    return this.attributes.has(k);
  }
  removeAttribute(k) {
    this.attributes.delete(k);
  }
  focus() {
    document.activeElement = this;
  }
  append(...nodes) {
    for (const n of nodes) {
      const node = typeof n === "string" ? new FakeText(n) : n;
      node.parentNode = this;
      this.childNodes.push(node);
    }
  }
  replaceChildren(...nodes) {
    this.childNodes = [];
    this.append(...nodes);
  }
  get children() {
    return this.childNodes.filter((c) => c instanceof FakeNode);
  }
  get textContent() {
    return this.childNodes.map((c) => c.textContent).join("");
  }
  matches(simple) {
    const m = simple.match(/^([a-z0-9]+)?((?:\.[\w-]+)*)((?:\[[\w-]+(?:="[^"]*")?\])*)$/i);
    if (!m) throw new Error(`fake DOM: unsupported selector ${simple}`);
    const [, tag, classes, attrs] = m;
    if (tag && this.tagName !== tag) return false;
    const mine = (this.getAttribute("class") || "").split(/\s+/);
    for (const c of classes.split(".").filter(Boolean)) if (!mine.includes(c)) return false;
    for (const [, k, v] of attrs.matchAll(/\[([\w-]+)(?:="([^"]*)")?\]/g)) {
      if (!this.hasAttribute(k) || (v !== undefined && this.getAttribute(k) !== v)) return false;
    }
    return true;
  }
  descendants() {
    return this.children.flatMap((c) => [c, ...c.descendants()]);
  }
  querySelectorAll(selector) {
    const chain = selector.trim().split(/\s+/);
    return this.descendants().filter((n) => {
      if (!n.matches(chain[chain.length - 1])) return false;
      let i = chain.length - 2;
      for (let p = n.parentNode; p && p !== this.parentNode && i >= 0; p = p.parentNode) if (p instanceof FakeNode && p.matches(chain[i])) i -= 1;
      return i < 0;
    });
  }
  querySelector(selector) {
    return this.querySelectorAll(selector)[0] || null;
  }
}

class FakeText {
  constructor(text) {
    this.textContent = text;
  }
}

globalThis.document = {
  activeElement: null,
  createElement: (tag) => new FakeNode(tag, "html"),
  createElementNS: (ns, tag) => new FakeNode(tag, ns),
  createTextNode: (text) => new FakeText(text),
};

const here = path.dirname(fileURLToPath(import.meta.url));
const charts = await import(pathToFileURL(path.join(here, "..", "..", "chalicelib", "console", "static", "charts.js")).href);
const { chart, mountChart, niceScale, linePath, tableModel, summarise, localLabel, utcLabel, timeTicks, formats } = charts;
const LOCALE = "en-GB";

// The local-time assertions below are for UTC+05:30 (a half-hour zone: an axis in UTC would not pass by accident).
assert.equal(new Date("2026-12-04T00:00:00Z").getTimezoneOffset(), -330, "run with TZ=Asia/Kolkata");

const hours = (n, start = "2026-12-04T00:00:00Z") => Array.from({ length: n }, (_, i) => new Date(Date.parse(start) + i * 3_600_000).toISOString().replace(".000Z", "Z"));

test("niceScale: round ticks from 0 that cover the maximum", () => {
  assert.deepEqual(niceScale(7), { max: 8, step: 2, ticks: [0, 2, 4, 6, 8] });
  assert.deepEqual(niceScale(100).ticks, [0, 25, 50, 75, 100]);
  assert.deepEqual(niceScale(0.013).ticks, [0, 0.005, 0.01, 0.015]);
  assert.equal(niceScale(1234).max >= 1234, true);
  assert.deepEqual(niceScale(1, 4, { integer: true }).ticks, [0, 1]); // counts: no 0.25 of a job
  assert.deepEqual(niceScale(6, 4, { integer: true }).ticks, [0, 2, 4, 6]);
  for (const max of [0, -3, NaN, null, undefined]) assert.deepEqual(niceScale(max).ticks, [0, 0.25, 0.5, 0.75, 1]); // nothing to scale: 0..1
  for (const max of [1, 3, 9.99, 61, 999, 5e6]) {
    const s = niceScale(max);
    assert.ok(s.max >= max && s.max < max * 2.6, `${max} → ${s.max}`);
    assert.ok(s.ticks.length <= 6);
  }
});

test("the time axis is in the viewer's local time; tooltips and the table also give UTC", () => {
  // This process runs with TZ=Asia/Kolkata (UTC+05:30): 14:00Z is 19:30 on the axis.
  assert.equal(localLabel("2026-12-04T14:00:00Z", "hour", { locale: LOCALE }), "19:30");
  assert.equal(localLabel("2026-12-04T20:00:00Z", "hour", { long: true, locale: LOCALE }), "5 Dec 01:30"); // past local midnight
  assert.equal(utcLabel("2026-12-04T20:00:00Z", "hour"), "2026-12-04 20:00 UTC");
  // A day is the UTC date the API counted, whatever the viewer's zone.
  assert.equal(localLabel("2026-12-04", "day", { locale: LOCALE }), "4 Dec");
  assert.equal(utcLabel("2026-12-04", "day"), "2026-12-04 UTC");
});

test("time ticks fall on round local times (a half-hour zone included) and local midnight shows the date", () => {
  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
  // 24 hourly buckets from 00:00Z are 05:30 .. 05:30 (+1 day) in Kolkata: ticks every 6 local hours.
  const day = timeTicks(hours(24), "hour", { locale: LOCALE });
  assert.deepEqual(day.map((t) => t.label), ["06:00", "12:00", "18:00", "5 Dec"]);
  assert.deepEqual(day.map((t) => iso(t.ms)), ["2026-12-04T00:30:00Z", "2026-12-04T06:30:00Z", "2026-12-04T12:30:00Z", "2026-12-04T18:30:00Z"]);
  const minutes = Array.from({ length: 60 }, (_, i) => iso(Date.parse("2026-12-04T10:00:00Z") + i * 60_000));
  assert.deepEqual(timeTicks(minutes, "minute", { locale: LOCALE }).map((t) => t.label), ["15:30", "15:45", "16:00", "16:15"]);
  const week = timeTicks(hours(24 * 7), "hour", { locale: LOCALE });
  assert.ok(week.length <= 5 && week.every((t) => /^\d+ Dec$/.test(t.label)), JSON.stringify(week)); // whole days: dates
  const days = Array.from({ length: 30 }, (_, i) => iso(Date.parse("2026-11-05T00:00:00Z") + i * 86_400_000).slice(0, 10));
  assert.deepEqual(timeTicks(days, "day", { locale: LOCALE }).map((t) => t.label), ["5 Nov", "11 Nov", "17 Nov", "23 Nov", "29 Nov"]);
  assert.deepEqual(timeTicks([], "hour"), []);
  // On a chart, every tick sits on the plot at its instant.
  const fig = chart({ title: "T", step: "hour", times: hours(24), series: [{ name: "n", kind: "bar", values: Array(24).fill(1) }] }, { locale: LOCALE });
  const labels = fig.querySelectorAll("text.tick").filter((t) => t.getAttribute("text-anchor") !== "end" || /\D/.test(t.textContent));
  assert.ok(labels.some((t) => t.textContent === "5 Dec"));
});

test("a line breaks at missing values and an isolated point is still drawn", () => {
  const d = linePath([1, 2, null, 4, undefined, 5, 6], (i) => i * 10, (v) => 100 - v);
  assert.equal(d, "M0 99 L10 98 M30 96 M50 95 L60 94");
  assert.equal(linePath([null, null], (i) => i, (v) => v), "");
  const fig = chart({ title: "Run time", step: "hour", times: hours(3), format: "ms", series: [{ name: "p50", kind: "line", values: [null, 120, null] }] }, { locale: LOCALE });
  assert.equal(fig.querySelectorAll("path.line").length, 1);
  assert.equal(fig.querySelectorAll("circle.dot").length, 1); // the one sample is visible
});

test("bars: one per non-zero value and series, all inside the plot, heights proportional", () => {
  const fig = chart(
    { title: "Throughput", step: "hour", times: hours(4), series: [{ name: "Succeeded", kind: "bar", tone: "ok", values: [2, 0, 8, 4] }, { name: "Failed", kind: "bar", tone: "bad", values: [0, 1, 0, 0] }] },
    { locale: LOCALE },
  );
  const ok = fig.querySelectorAll("rect.bar.tone-ok");
  const bad = fig.querySelectorAll("rect.bar.tone-bad");
  assert.equal(ok.length, 3);
  assert.equal(bad.length, 1);
  const hs = ok.map((r) => Number(r.getAttribute("height")));
  assert.ok(Math.abs(hs[1] / hs[0] - 4) < 0.01, String(hs)); // 8 vs 2
  const [, , w] = fig.querySelector("svg").getAttribute("viewBox").split(" ").map(Number);
  for (const r of [...ok, ...bad]) {
    const x = Number(r.getAttribute("x"));
    assert.ok(x >= 0 && x + Number(r.getAttribute("width")) <= w);
  }
  assert.equal(fig.querySelectorAll("ul.legend li").length, 2);
});

test("accessible: role=img with a summary, every bucket has a UTC tooltip, and a real table holds the numbers", () => {
  const times = hours(3, "2026-12-04T13:00:00Z");
  const spec = { title: "Throughput", step: "hour", times, series: [{ name: "Succeeded", kind: "bar", values: [1, 3, 0] }, { name: "Failed", kind: "bar", values: [0, 1, 0] }] };
  const fig = chart(spec, { locale: LOCALE });
  const svg = fig.querySelector("svg");
  assert.equal(svg.getAttribute("role"), "img");
  const label = svg.getAttribute("aria-label");
  assert.match(label, /^Throughput, 4 Dec 18:30 to 4 Dec 20:30\. /);
  assert.match(label, /Succeeded: 4 in all, at most 3 at 4 Dec 19:30/);
  assert.match(label, /Failed: 1 in all, at most 1 at 4 Dec 19:30/);
  const tips = fig.querySelectorAll("rect.hit title").map((t) => t.textContent);
  assert.equal(tips.length, 3);
  assert.equal(tips[1], "2026-12-04 14:00 UTC (4 Dec 19:30): Succeeded 3, Failed 1");
  const table = fig.querySelector("details.chart-data table");
  assert.ok(table);
  assert.deepEqual(table.querySelectorAll("thead th").map((th) => th.textContent), ["Time (local)", "UTC", "Succeeded", "Failed"]);
  const rows = table.querySelectorAll("tbody tr").map((tr) => tr.children.map((c) => c.textContent));
  assert.deepEqual(rows[1], ["4 Dec 19:30", "2026-12-04 14:00 UTC", "3", "1"]);
  assert.equal(rows.length, 3);
  assert.equal(table.querySelector("tbody th").getAttribute("scope"), "row");
});

test("nulls: shown as — in the table, 'no data' in the summary, and the chart says there are no samples", () => {
  const spec = { title: "Wait time", step: "minute", times: hours(2), format: "ms", series: [{ name: "p50", kind: "line", aggregate: "max", values: [null, null] }, { name: "p95", kind: "line", aggregate: "max", values: [null, 2500] }] };
  const model = tableModel(spec, { locale: LOCALE });
  assert.deepEqual(model.rows.map((r) => r.slice(2)), [["—", "—"], ["—", "2.5 s"]]);
  assert.match(summarise(spec, { locale: LOCALE }), /p50: no data; p95: highest 2\.5 s at/);
  const none = chart({ ...spec, series: spec.series.map((s) => ({ ...s, values: [null, null] })) }, { locale: LOCALE });
  assert.equal(none.querySelector("text.chart-none").textContent, "No samples in this range");
  assert.equal(none.querySelectorAll("path.line").length, 0);
});

test("empty data: no buckets is a plain sentence (still labelled), zeros draw a flat chart that says none", () => {
  const empty = chart({ title: "Media", step: "day", times: [], series: [{ name: "Minutes", kind: "bar", values: [] }] });
  assert.equal(empty.querySelector("svg"), null);
  assert.equal(empty.querySelector("p.chart-empty").textContent, "No data in this range.");
  assert.equal(empty.querySelector("p.chart-empty").getAttribute("aria-label"), "Media: no data in this range.");
  const zeros = chart({ title: "Incidents", step: "hour", times: hours(24), series: [{ name: "Stored", kind: "bar", values: Array(24).fill(0) }] }, { locale: LOCALE });
  assert.equal(zeros.querySelectorAll("rect.bar").length, 0);
  assert.match(zeros.querySelector("svg").getAttribute("aria-label"), /Stored: none\.$/);
  const yTicks = zeros.querySelectorAll("text.tick").filter((t) => t.getAttribute("text-anchor") === "end");
  assert.deepEqual(yTicks.map((t) => t.textContent), ["0", "1"]); // a count axis: whole numbers only
});

test("markers: resolve and reopen moments drawn at their time, listed with the table, and outside the range left out", () => {
  const times = hours(4, "2026-12-04T10:00:00Z"); // 10:00 .. 14:00 UTC
  const markers = [
    { t: "2026-12-04T11:30:00Z", label: "Resolved", kind: "resolved" },
    { t: "2026-12-04T13:00:00Z", label: "Reopened", kind: "reopened" },
    { t: "2026-12-03T09:00:00Z", label: "Resolved", kind: "resolved" }, // before the range
  ];
  const fig = chart({ title: "Incidents", step: "hour", times, markers, series: [{ name: "Stored", kind: "bar", values: [1, 2, 0, 5] }] }, { locale: LOCALE });
  const drawn = fig.querySelectorAll("g.marker");
  assert.deepEqual(drawn.map((g) => g.getAttribute("class")), ["marker marker-resolved", "marker marker-reopened"]);
  const x = drawn.map((g) => Number(g.querySelector("line").getAttribute("x1")));
  const [, , w] = fig.querySelector("svg").getAttribute("viewBox").split(" ").map(Number);
  // 11:30 is 1.5 of 4 hours in, 13:00 is 3 of 4, across the plot (left 46, right 8).
  assert.ok(Math.abs(x[0] - (46 + (1.5 / 4) * (w - 54))) < 0.01 && Math.abs(x[1] - (46 + (3 / 4) * (w - 54))) < 0.01, String(x));
  assert.equal(drawn[0].querySelector("title").textContent, "Resolved — 4 Dec 17:00 (2026-12-04 11:30 UTC)");
  assert.equal(fig.querySelectorAll("ul.chart-marks li").length, 3);
  assert.match(fig.querySelector("svg").getAttribute("aria-label"), /Resolved at 4 Dec 17:00; Reopened at 4 Dec 18:30/);
});

test("sparkline: small, no axes or caption, still labelled and with its numbers", () => {
  const fig = chart({ title: "Last 24 h", step: "hour", times: hours(24), sparkline: true, series: [{ name: "Incidents", kind: "line", values: Array.from({ length: 24 }, (_, i) => (i === 20 ? 6 : 1)) }] }, { locale: LOCALE });
  assert.equal(fig.getAttribute("class"), "chart sparkline");
  assert.equal(fig.querySelector("figcaption"), null);
  assert.equal(fig.querySelectorAll("text.tick").length, 0);
  assert.match(fig.querySelector("svg").getAttribute("aria-label"), /Incidents: 29 in all, at most 6 at/);
  assert.equal(fig.querySelectorAll("details.chart-data tbody tr").length, 24);
});

test("mountChart redraws in place on refresh, keeps an opened table open and keyboard focus on it", () => {
  const box = document.createElement("div");
  const spec = (n) => ({ title: "Throughput", step: "hour", times: hours(2), series: [{ name: "Succeeded", kind: "bar", values: [n, 1] }] });
  mountChart(box, spec(1), { locale: LOCALE });
  assert.equal(box.querySelector("details.chart-data").hasAttribute("open"), false);
  box.querySelector("details.chart-data").setAttribute("open", ""); // the user opened it
  mountChart(box, spec(7), { locale: LOCALE });
  assert.equal(box.children.length, 1);
  assert.equal(box.querySelector("details.chart-data").hasAttribute("open"), true);
  assert.equal(box.querySelector("tbody tr").children[2].textContent, "7"); // time, UTC, Succeeded
  box.querySelector("details.chart-data summary").focus(); // a keyboard user on "Show the numbers"
  mountChart(box, spec(8), { locale: LOCALE });
  assert.equal(document.activeElement, box.querySelector("details.chart-data summary")); // the new one
  assert.equal(box.querySelector("tbody tr").children[2].textContent, "8");
});

test("formats: counts, durations, money and minutes", () => {
  assert.equal(formats.count(3), "3");
  assert.equal(formats.count(2.5), "2.5");
  assert.equal(formats.count(0.25), "0.25");
  assert.equal(formats.ms(850), "850 ms");
  assert.equal(formats.ms(1250), "1.25 s");
  assert.equal(formats.ms(90_000), "1.5 min");
  assert.equal(formats.usd(0), "$0");
  assert.equal(formats.usd(0.0042), "$0.0042");
  assert.equal(formats.usd(0.00000012), "$0.00000012"); // a 1-second video's Lambda cost: no exponent
  assert.equal(formats.usd(0.0075), "$0.0075");
  assert.equal(formats.usd(12.345), "$12.35");
  assert.equal(formats.minutes(12.5), "12.5 min");
});

test("the metrics API's shapes: range parameters, columns (nested, missing → null) and every UTC day", () => {
  const { rangeParams, column, utcDays } = charts;
  assert.deepEqual(rangeParams(3_600_000, "minute", Date.parse("2026-12-04T10:20:30.456Z")), { from: "2026-12-04T09:20:30Z", to: "2026-12-04T10:20:30Z", step: "minute" });
  const buckets = [{ t: "a", failed: 1, run_ms: { p50: 120, p95: null, count: 3 } }, { t: "b", failed: 0, run_ms: { p50: null } }, { t: "c" }];
  assert.deepEqual(column(buckets, "failed"), [1, 0, null]);
  assert.deepEqual(column(buckets, "run_ms.p50"), [120, null, null]);
  assert.deepEqual(column(buckets, "run_ms.p95"), [null, null, null]);
  assert.deepEqual(column(undefined, "x"), []);
  assert.deepEqual(utcDays("2026-11-29T22:00:00Z", "2026-12-02T01:00:00Z"), ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]);
  assert.deepEqual(utcDays("2026-12-02T00:00:00Z", "2026-12-02T23:59:59Z"), ["2026-12-02"]);
});
