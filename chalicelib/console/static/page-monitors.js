// Admin > Insights > Monitors: each scheduled function's heartbeat: state, last runs, duration, next expected run.
// Read-only; a late or failed monitor has an incident in the Incident Hub (the watchdog files it). A function
// the scheduler rollups count (GET /admin/metrics/scheduler, one call) has a chart of its runs and the
// instances they created per hour over 7 days, redrawn with the page's Refresh.
import { api, qs, reason } from "./api.js";
import { column, mountChart, rangeParams } from "./charts.js";
import { badge, busy, clear, fail, fmtDateTime, h, messageArea, table } from "./ui.js";

const AREA = "admin.insights.monitors";
const KIND = { ok: "ok", late: "warn", failed: "bad", running: "" };

function duration(ms) {
  if (ms === null || ms === undefined) return "";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function counts(c) {
  return Object.entries(c || {})
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
}

const RUN_COLUMNS = [
  { label: "Scheduled", render: (r) => fmtDateTime(r.scheduled_at) },
  { label: "Outcome", render: (r) => h("span", {}, badge(r.outcome, KIND[r.outcome] || ""), r.duplicate ? badge("duplicate", "muted") : null) },
  { label: "Duration", render: (r) => duration(r.duration_ms) },
  { label: "Counts", render: (r) => counts(r.counts) },
  { label: "Error", render: (r) => r.error || "" },
];

export async function render(main, { title }) {
  const messages = messageArea();
  const out = h("div", { class: "stack" });
  const refresh = h("button", { type: "button", class: "btn" }, "Refresh");
  clear(main, h("h1", {}, title), messages.el, h("div", { class: "actions" }, refresh), out);

  async function more(name, section, token) {
    try {
      const got = await api("GET", `/admin/monitors/${encodeURIComponent(name)}/runs${qs({ limit: 20, next_token: token })}`);
      const next = got.next_token ? h("button", { type: "button", class: "btn" }, "Older runs") : null;
      clear(section, table(RUN_COLUMNS, got.items, { caption: `${name}: runs`, empty: "No runs recorded." }), next);
      if (next) next.addEventListener("click", () => busy(next, "Loading…", () => more(name, section, got.next_token)));
    } catch (err) {
      fail(messages, err, { action: "load the runs", area: `${AREA}.runs`, entities: { monitor: name } });
    }
  }

  /** Runs and instances created per hour for each function the scheduler rollups count (one call). */
  async function schedulerSeries() {
    try {
      const got = await api("GET", `/admin/metrics/scheduler${qs(rangeParams(7 * 86_400_000, "hour"))}`);
      return { step: got.step, byName: new Map((got.series || []).map((x) => [x.function, x.buckets || []])) };
    } catch (err) {
      fail(null, err, { action: "load the scheduler trends", area: `${AREA}.trends` });
      return { error: reason(err), byName: new Map() };
    }
  }

  function trend(name, trends) {
    const buckets = trends.byName.get(name);
    if (!buckets) return trends.error ? h("p", { class: "muted small" }, `No trend: ${trends.error}`) : null;
    const box = h("div", { class: "monitor-trend" });
    queueMicrotask(() =>
      mountChart(box, {
        id: `scheduler-${name}`,
        title: `${name}: instances created per hour, last 7 days`,
        step: trends.step || "hour",
        times: buckets.map((b) => b.t),
        series: [
          { name: "Instances created", kind: "bar", tone: "primary", values: column(buckets, "created") },
          { name: "Runs", kind: "line", tone: "muted", values: column(buckets, "runs") },
          { name: "Skipped (lease held)", kind: "line", tone: "warn", values: column(buckets, "skipped") },
        ],
      }),
    );
    return box;
  }

  async function show() {
    try {
      const [got, trends] = await Promise.all([api("GET", "/admin/monitors"), schedulerSeries()]);
      messages.clear();
      clear(
        out,
        ...got.items.map((m) => {
          const runs = h("div", {});
          const all = h("button", { type: "button", class: "btn" }, "All runs");
          all.addEventListener("click", () => busy(all, "Loading…", () => more(m.name, runs, null)));
          clear(runs, table(RUN_COLUMNS, m.recent_runs, { caption: `${m.name}: latest runs`, empty: "No runs recorded yet." }), all);
          return h(
            "section",
            { class: "card", "data-monitor": m.name },
            h("h2", {}, m.name, " ", badge(m.state, KIND[m.state] || "")),
            h("p", { class: "muted small" }, `${m.expression}, grace ${Math.round(m.grace_s / 60)} min`),
            h(
              "p",
              {},
              m.state === "late" ? `Missed the run expected at ${fmtDateTime(m.missed_at)}. ` : `Next expected: ${fmtDateTime(m.next_expected_at)}. `,
              m.last_started_at ? `Last run ${fmtDateTime(m.last_started_at)} (${m.last_outcome}, ${duration(m.last_duration_ms)}). ` : "No run recorded yet. ",
              `Runs ${m.runs}: ${m.ok} ok, ${m.failed} failed, ${m.duplicates} duplicate deliveries.`,
            ),
            trend(m.name, trends),
            runs,
          );
        }),
      );
    } catch (err) {
      fail(messages, err, { action: "load the monitors", area: `${AREA}.list` });
    }
  }
  refresh.addEventListener("click", () => busy(refresh, "Loading…", show));
  await show();
}
