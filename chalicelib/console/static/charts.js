// Trend charts in plain SVG (no third-party code): bar and line series over time buckets, a y scale with
// round ticks, the time axis in the viewer's local time with each bucket's UTC time in its tooltip, marked
// moments (an incident group's resolve / reopen), and for assistive technology `role="img"` with a summary
// plus a <details> table holding every number. Width follows the container (viewBox, width 100%).
// Colours come from console.css classes (the CSP allows no inline styles); SVG geometry is attributes.

const SVG_NS = "http://www.w3.org/2000/svg";
const STEP_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const VIEW = { width: 400, height: 170, left: 46, right: 8, top: 10, bottom: 24 }; // width: the container's, when known
const SPARK = { width: 120, height: 28, pad: 2 };
export const TONES = ["primary", "ok", "bad", "warn", "muted", "alt"];

// --- pure helpers (unit-tested in tests/js/charts.test.mjs) ----------------------------------------

/** Round y-axis ticks from 0 to at least `max` (all our series are counts, durations or money: ≥ 0);
 * `integer`: whole steps only (counts). */
export function niceScale(max, count = 4, { integer = false } = {}) {
  const top = Number.isFinite(max) && max > 0 ? max : 1;
  const raw = top / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const nice = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw - 1e-12);
  const step = integer ? Math.max(1, Math.ceil(nice)) : nice; // counts: whole ticks
  const n = Math.max(1, Math.ceil(top / step - 1e-9));
  const ticks = Array.from({ length: n + 1 }, (_, i) => round(i * step));
  return { max: ticks[n], step, ticks };
}

function round(v) {
  return Math.round(v * 1e9) / 1e9;
}

/** The bucket's start in epoch ms: an ISO instant ("…Z") or, for `day`, a UTC date ("YYYY-MM-DD"). */
export function bucketStart(t) {
  const ms = Date.parse(String(t).length === 10 ? `${t}T00:00:00Z` : t);
  return Number.isNaN(ms) ? null : ms;
}

/** A bucket in UTC for tooltips and the table: "2026-12-04 14:05 UTC" (a day: "2026-12-04 UTC"). */
export function utcLabel(t, step) {
  const ms = bucketStart(t);
  if (ms === null) return String(t);
  const iso = new Date(ms).toISOString();
  return step === "day" ? `${iso.slice(0, 10)} UTC` : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** A bucket in the viewer's local time (a day stays the UTC date it counts). `long`: with the date. */
export function localLabel(t, step, { long = false, locale } = {}) {
  const ms = bucketStart(t);
  if (ms === null) return String(t);
  const d = new Date(ms);
  if (step === "day") return d.toLocaleDateString(locale, { month: "short", day: "numeric", timeZone: "UTC" });
  const time = d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  return long ? `${d.toLocaleDateString(locale, { month: "short", day: "numeric" })} ${time}` : time;
}

const MIN = 60_000;
const INTERVALS = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 4320, 10080].map((m) => m * MIN);

/**
 * The time axis' ticks, at round moments of the viewer's local time (every 15 min, 6 h, local midnight…):
 * at most `max`, each `{ms, label}`; a tick at local midnight is labelled with the date, so days show.
 * Days (`step: "day"`) are UTC dates: every n-th one.
 */
export function timeTicks(times, step, { max = 5, locale } = {}) {
  const starts = times.map(bucketStart).filter((t) => t !== null);
  if (!starts.length) return [];
  const stepMs = STEP_MS[step] || STEP_MS.hour;
  if (step === "day") {
    const every = Math.ceil(starts.length / max);
    return starts.filter((_, i) => i % every === 0).map((ms) => ({ ms, label: localLabel(new Date(ms).toISOString().slice(0, 10), "day", { locale }) }));
  }
  const t0 = starts[0];
  const t1 = starts[starts.length - 1] + stepMs;
  const every = INTERVALS.find((i) => (t1 - t0) / i <= max) || INTERVALS[INTERVALS.length - 1];
  const local = (ms) => ms - new Date(ms).getTimezoneOffset() * MIN; // the wall-clock time, as if it were UTC
  const out = [];
  for (let wall = Math.ceil(local(t0) / every) * every; ; wall += every) {
    const ms = wall + new Date(wall).getTimezoneOffset() * MIN; // back to the instant (DST: off by the shift at most)
    if (ms >= t1) break;
    if (ms < t0) continue;
    const d = new Date(ms);
    const midnight = d.getHours() === 0 && d.getMinutes() === 0;
    const date = d.toLocaleDateString(locale, { month: "short", day: "numeric" });
    out.push({ ms, label: every >= STEP_MS.day || midnight ? date : d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" }) });
  }
  return out;
}

/** Value formatters: `count`, `ms` (ms → s → min), `usd`, `minutes`. */
export const formats = {
  count: (v) => (Number.isInteger(v) ? String(v) : trim(v)),
  ms: (v) => (v < 1000 ? `${Math.round(v)} ms` : v < 60_000 ? `${trim(v / 1000)} s` : `${trim(v / 60_000)} min`),
  usd: (v) => (v === 0 ? "$0" : v >= 0.01 ? `$${v.toFixed(2)}` : `$${v.toFixed(Math.min(10, Math.ceil(-Math.log10(v)) + 1))}`), // 2 significant digits, never "1e-7"
  minutes: (v) => `${trim(v)} min`,
};

function trim(v) {
  return v >= 100 ? String(Math.round(v)) : String(Number(v.toFixed(v >= 10 ? 1 : 2)));
}

function formatter(spec) {
  const f = spec.format;
  return typeof f === "function" ? f : formats[f || "count"] || formats.count;
}

function numbers(values) {
  return values.filter((v) => typeof v === "number" && Number.isFinite(v));
}

/** One sentence per series for `aria-label`: total (or the range of a distribution's values), peak and when. */
export function summarise(spec, { locale } = {}) {
  const fmt = formatter(spec);
  const times = spec.times || [];
  if (!times.length) return `${spec.title}: no data in this range.`;
  const span = `${localLabel(times[0], spec.step, { long: true, locale })} to ${localLabel(times[times.length - 1], spec.step, { long: true, locale })}`;
  const parts = (spec.series || []).map((s) => {
    const vals = numbers(s.values);
    if (!vals.length) return `${s.name}: no data`;
    const peak = Math.max(...vals);
    const at = localLabel(times[s.values.indexOf(peak)], spec.step, { long: true, locale });
    if (s.aggregate === "max") return `${s.name}: highest ${fmt(peak)} at ${at}`;
    const total = vals.reduce((a, b) => a + b, 0);
    return total ? `${s.name}: ${fmt(round(total))} in all, at most ${fmt(peak)} at ${at}` : `${s.name}: none`;
  });
  const marks = (spec.markers || []).map((m) => `${m.label} at ${localLabel(m.t, "minute", { long: true, locale })}`);
  return `${spec.title}, ${span}. ${[...parts, ...marks].join("; ")}.`;
}

/** The fallback table: a head row and one row per bucket (local time, UTC, each series' value or "—"). */
export function tableModel(spec, { locale } = {}) {
  const fmt = formatter(spec);
  const head = [spec.step === "day" ? "Day" : "Time (local)", ...(spec.step === "day" ? [] : ["UTC"]), ...(spec.series || []).map((s) => s.name)];
  const rows = (spec.times || []).map((t, i) => [
    localLabel(t, spec.step, { long: true, locale }),
    ...(spec.step === "day" ? [] : [utcLabel(t, spec.step)]),
    ...(spec.series || []).map((s) => {
      const v = s.values[i];
      return typeof v === "number" && Number.isFinite(v) ? fmt(v) : "—";
    }),
  ]);
  return { head, rows };
}

/** A line's path: "M x y L x y …", broken at missing values (null: no sample in that bucket). */
export function linePath(values, x, y) {
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    d += `${pen ? "L" : "M"}${fix(x(i))} ${fix(y(v))} `;
    pen = true;
  });
  return d.trim();
}

function fix(v) {
  return Number(v.toFixed(2));
}

// --- DOM --------------------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) node.append(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}

function dataTable(spec, locale) {
  const { head, rows } = tableModel(spec, { locale });
  const marks = (spec.markers || []).map((m) => el("li", {}, `${m.label}: ${localLabel(m.t, "minute", { long: true, locale })} (${utcLabel(m.t, "minute")})`));
  return el(
    "details",
    { class: "chart-data" },
    el("summary", {}, spec.sparkline ? "Numbers" : "Show the numbers"),
    marks.length ? el("ul", { class: "chart-marks" }, marks) : null,
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        { class: "chart-table" },
        el("caption", {}, spec.title),
        el("thead", {}, el("tr", {}, head.map((c) => el("th", { scope: "col" }, c)))),
        el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) => (i === 0 ? el("th", { scope: "row" }, c) : el("td", {}, c)))))),
      ),
    ),
  );
}

function geometry(spec, box) {
  const n = spec.times.length;
  const t0 = bucketStart(spec.times[0]) ?? 0;
  const stepMs = STEP_MS[spec.step] || STEP_MS.hour;
  const plotW = box.width - box.left - box.right;
  const bw = plotW / n;
  const all = (spec.series || []).flatMap((s) => numbers(s.values));
  const integer = !spec.format || spec.format === "count";
  const scale = niceScale(all.length ? Math.max(...all) : 0, spec.sparkline ? 1 : 4, { integer });
  const bottom = box.height - box.bottom;
  return {
    n,
    bw,
    scale,
    x: (i) => box.left + (i + 0.5) * bw,
    xAt: (ms) => box.left + ((ms - t0) / (stepMs * n)) * plotW,
    y: (v) => bottom - (v / scale.max) * (bottom - box.top),
    bottom,
  };
}

function plot(spec, g, box, locale) {
  const fmt = formatter(spec);
  const parts = [];
  const bars = spec.series.filter((s) => s.kind === "bar");
  const barW = (g.bw * 0.8) / Math.max(1, bars.length);
  spec.series.forEach((s, si) => {
    const tone = `tone-${s.tone || TONES[si % TONES.length]}`;
    if (s.kind === "bar") {
      const k = bars.indexOf(s);
      s.values.forEach((v, i) => {
        if (typeof v !== "number" || !(v > 0)) return;
        const x = g.x(i) - (g.bw * 0.8) / 2 + k * barW;
        parts.push(svg("rect", { class: `bar ${tone}`, x: fix(x), y: fix(g.y(v)), width: fix(Math.max(barW, 0.5)), height: fix(g.bottom - g.y(v)) }));
      });
      return;
    }
    const d = linePath(s.values, g.x, g.y);
    if (d) parts.push(svg("path", { class: `line ${tone}`, d }));
    s.values.forEach((v, i) => {
      const lone = typeof v === "number" && (typeof s.values[i - 1] !== "number") && (typeof s.values[i + 1] !== "number");
      if (lone) parts.push(svg("circle", { class: `dot ${tone}`, cx: fix(g.x(i)), cy: fix(g.y(v)), r: spec.sparkline ? 1.5 : 2.5 }));
    });
  });
  let lastLabel = { x: -Infinity, row: 0 };
  for (const m of [...(spec.markers || [])].sort((a, b) => (bucketStart(a.t) ?? 0) - (bucketStart(b.t) ?? 0))) {
    const ms = bucketStart(m.t);
    if (ms === null) continue;
    const x = g.xAt(ms);
    if (x < box.left || x > box.width - box.right) continue; // outside the range drawn
    const row = x - lastLabel.x < 60 ? (lastLabel.row + 1) % 3 : 0; // close moments: labels on the next row down
    lastLabel = { x, row };
    const right = x > box.width - box.right - 60; // near the right edge: the label goes to the left of its line
    parts.push(
      svg(
        "g",
        { class: `marker marker-${m.kind || "note"}` },
        svg("title", {}, `${m.label} — ${localLabel(m.t, "minute", { long: true, locale })} (${utcLabel(m.t, "minute")})`),
        svg("line", { x1: fix(x), x2: fix(x), y1: box.top, y2: g.bottom }),
        spec.sparkline ? null : svg("text", { x: fix(right ? x - 3 : x + 3), y: box.top + 9 + row * 11, "text-anchor": right ? "end" : "start", class: "marker-label" }, m.label),
      ),
    );
  }
  // One invisible band per bucket: hovering shows its UTC time and every value (the native SVG tooltip).
  spec.times.forEach((t, i) => {
    const values = spec.series.map((s) => `${s.name} ${typeof s.values[i] === "number" ? fmt(s.values[i]) : "—"}`).join(", ");
    parts.push(svg("rect", { class: "hit", x: fix(box.left + i * g.bw), y: box.top, width: fix(g.bw), height: fix(g.bottom - box.top) }, svg("title", {}, `${utcLabel(t, spec.step)} (${localLabel(t, spec.step, { long: true, locale })}): ${values}`)));
  });
  return parts;
}

function axes(spec, g, box, locale) {
  const fmt = formatter(spec);
  const out = [];
  for (const v of g.scale.ticks) {
    const y = fix(g.y(v));
    out.push(svg("line", { class: v === 0 ? "axis" : "gridline", x1: box.left, x2: box.width - box.right, y1: y, y2: y }));
    out.push(svg("text", { class: "tick", x: box.left - 4, y: fix(y + 3.5), "text-anchor": "end" }, fmt(v)));
  }
  const ticks = timeTicks(spec.times, spec.step, { max: Math.max(3, Math.floor((box.width - box.left) / 60)), locale });
  for (const [i, t] of ticks.entries()) {
    const x = fix(spec.step === "day" ? g.x(spec.times.findIndex((d) => bucketStart(d) === t.ms)) : g.xAt(t.ms));
    out.push(svg("line", { class: "axis", x1: x, x2: x, y1: g.bottom, y2: g.bottom + 3 }));
    const anchor = i === ticks.length - 1 && x > box.width - box.right - 25 ? "end" : x < box.left + 25 ? "start" : "middle";
    out.push(svg("text", { class: "tick", x, y: box.height - 8, "text-anchor": anchor }, t.label));
  }
  return out;
}

/**
 * A chart as a <figure>: title, legend, the SVG (role="img", its aria-label a summary) and a <details>
 * table of every value. spec: {title, times: [bucket start…], step: "minute"|"hour"|"day",
 * series: [{name, values: [number|null…], kind: "bar"|"line", tone?, aggregate?: "sum"|"max"}],
 * format?: "count"|"ms"|"usd"|"minutes"|fn, markers?: [{t, label, kind}], sparkline?: bool, note?, width?}.
 */
export function chart(spec, { locale } = {}) {
  const s = { ...spec, times: spec.times || [], series: spec.series || [] };
  const width = Math.round(Math.max(260, Number(spec.width) || VIEW.width));
  const box = s.sparkline ? { width: SPARK.width, height: SPARK.height, left: SPARK.pad, right: SPARK.pad, top: SPARK.pad, bottom: SPARK.pad } : { ...VIEW, width, height: Math.round(Math.min(220, Math.max(150, width * 0.42))) };
  const label = summarise(s, { locale });
  const figure = el("figure", { class: s.sparkline ? "chart sparkline" : "chart", "data-chart": s.id || null });
  if (!s.sparkline) figure.append(el("figcaption", {}, s.title));
  if (!s.times.length) {
    figure.append(el("p", { class: "chart-empty", role: "img", "aria-label": label }, "No data in this range."));
    return figure;
  }
  const g = geometry(s, box);
  const empty = !s.series.some((x) => numbers(x.values).length);
  const image = svg(
    "svg",
    { viewBox: `0 0 ${box.width} ${box.height}`, role: "img", "aria-label": label, focusable: "false" },
    s.sparkline ? null : axes(s, g, box, locale),
    plot(s, g, box, locale),
    empty && !s.sparkline ? svg("text", { class: "chart-none", x: box.width / 2, y: box.height / 2, "text-anchor": "middle" }, "No samples in this range") : null,
  );
  if (!s.sparkline && s.series.length > 1) {
    figure.append(el("ul", { class: "legend", "aria-hidden": "true" }, s.series.map((x, i) => el("li", {}, el("span", { class: `swatch tone-${x.tone || TONES[i % TONES.length]}` }), x.name))));
  }
  figure.append(image);
  if (s.note) figure.append(el("p", { class: "chart-note" }, s.note));
  figure.append(dataTable(s, locale));
  return figure;
}

/** Draw (or redraw, on the page's refresh) a chart into `container`, as wide as it is (the viewBox is its
 * width in CSS pixels, so text stays legible; resizing scales it until the next redraw), keeping its table
 * open if it was. */
export function mountChart(container, spec, options) {
  const wasOpen = container.querySelector("details.chart-data")?.hasAttribute("open");
  const focused = document.activeElement && container.querySelector("details.chart-data summary") === document.activeElement;
  const figure = chart({ width: container.clientWidth || undefined, ...spec }, options);
  if (wasOpen) figure.querySelector("details.chart-data")?.setAttribute("open", "");
  container.replaceChildren(figure);
  if (focused) figure.querySelector("details.chart-data summary")?.focus(); // a keyboard user keeps their place
  return figure;
}

// --- the metrics API's shapes (GET /admin/metrics/…) -----------------------------------------------

/** `from`/`to`/`step` for the last `ms` milliseconds (ISO-8601 UTC, whole seconds). */
export function rangeParams(ms, step, now = Date.now()) {
  const iso = (t) => new Date(Math.floor(t / 1000) * 1000).toISOString().replace(".000Z", "Z");
  return { from: iso(now - ms), to: iso(now), step };
}

/** One field of every bucket (`"run_ms.p95"` reaches into a distribution); missing → null. */
export function column(buckets, key) {
  const path = key.split(".");
  return (buckets || []).map((b) => {
    const v = path.reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), b);
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  });
}

/** Every UTC day from `from` to `to` ("YYYY-MM-DD"), so a day with nothing processed is a 0, not a gap. */
export function utcDays(from, to) {
  const out = [];
  const end = bucketStart(String(to).slice(0, 10));
  for (let t = bucketStart(String(from).slice(0, 10)); t !== null && end !== null && t <= end; t += STEP_MS.day) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}
