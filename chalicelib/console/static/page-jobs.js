// Admin > Insights > Jobs: tabs for queued, running/stuck, failed and cancelled jobs; retry, cancel,
// bulk retry with a preview; refreshes itself every few seconds while the tab is visible. A job's detail
// (?job=<id> opens it) lists the incidents its failed runs filed, each linking to its group. Trends per
// job type (GET /admin/metrics/jobs): throughput and failures, run time p50/p95, wait time p50/p95,
// redrawn with the counts (every SUMMARY_MS, and on "Refresh now").
import { api, apiPath, qs, reason } from "./api.js";
import { column, mountChart, rangeParams } from "./charts.js";
import { badge, busy, clear, clipText, confirmDialog, fail, field, fmtDateTime, h, messageArea, plural, table } from "./ui.js";

const AREA = "admin.insights.jobs";
const REFRESH_MS = 5000;
const SUMMARY_MS = 30000;
const RANGES = [
  { id: "1h", label: "Last hour, per minute", ms: 3_600_000, step: "minute" },
  { id: "24h", label: "Last 24 hours, per hour", ms: 86_400_000, step: "hour" },
  { id: "7d", label: "Last 7 days, per hour", ms: 7 * 86_400_000, step: "hour" },
];
const TABS = [
  { id: "queued", label: "Queued", state: "queued" },
  { id: "running", label: "Running / stuck", state: "running" },
  { id: "failed", label: "Failed", state: "failed" },
  { id: "cancelled", label: "Cancelled", state: "cancelled" },
];

function stateBadge(job) {
  if ((job.state === "running" || job.state === "queued") && job.stuck) return badge(`stuck ${job.state}`, "bad");
  const kind = { failed: "bad", succeeded: "ok", running: "info", queued: "", cancelled: "warn" }[job.state] || "";
  return badge(job.state, kind);
}

function entityText(e) {
  return e ? `${e.type} ${e.id}` : "";
}

export async function render(main, { title }) {
  const messages = messageArea();
  const stats = h("div", { class: "stats", "aria-label": "Job counts" });
  const tablist = h("div", { role: "tablist", "aria-label": "Job states" });
  const panel = h("div", { role: "tabpanel", id: "jobs-panel", tabindex: "0" });
  const bulkBox = h("div");
  const detailBox = h("div");
  const trendRange = h("select", { name: "trend", id: "trend-range", class: "chart-range" }, RANGES.map((r) => h("option", { value: r.id }, r.label)));
  const trendBody = h("div", { "aria-live": "off" });
  const trends = h("details", { class: "card job-trends", open: true }, h("summary", {}, "Trends per job type"), h("div", { class: "row" }, field("Range", trendRange)), trendBody);
  const refreshed = h("span", { class: "muted small", "aria-live": "off" });
  const auto = h("input", { type: "checkbox", id: "auto-refresh", checked: true });
  const params = new URLSearchParams(location.search);
  let active = TABS.find((t) => t.id === params.get("tab")) || TABS[0];
  trendRange.value = (RANGES.find((r) => r.id === params.get("trend")) || RANGES[1]).id;
  let onlyStuck = false;
  let timer = null;
  let loading = false;
  let paused = 0; // >0 while a dialog or an action is in progress: no refresh under the user's feet

  const tabButtons = TABS.map((t) => {
    const b = h("button", { type: "button", role: "tab", id: `tab-${t.id}`, "aria-controls": "jobs-panel", "data-tab": t.id }, t.label, h("span", { class: "count", "data-count": t.state }, "·"));
    b.addEventListener("click", () => select(t, true));
    return b;
  });
  tablist.append(...tabButtons);
  tablist.addEventListener("keydown", (ev) => {
    const i = TABS.indexOf(active);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[ev.key];
    if (next === undefined) return;
    ev.preventDefault();
    const t = TABS[(next + TABS.length) % TABS.length];
    select(t, true);
    tabButtons[TABS.indexOf(t)].focus();
  });

  function select(t, user) {
    active = t;
    for (const b of tabButtons) {
      const on = b.dataset.tab === t.id;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    panel.setAttribute("aria-labelledby", `tab-${t.id}`);
    if (user) {
      const url = new URL(location.href);
      url.searchParams.set("tab", t.id);
      history.replaceState(null, "", url);
      detailBox.replaceChildren();
    }
    renderBulk();
    refresh();
  }

  clear(
    main,
    h("div", { class: "row spread" }, h("h1", {}, title), h("div", { class: "row" }, h("label", { for: "auto-refresh", class: "row" }, auto, "Auto-refresh"), refreshed, h("button", { type: "button", class: "btn secondary small", onclick: () => refresh() }, "Refresh now"))),
    messages.el,
    stats,
    trends,
    tablist,
    bulkBox,
    panel,
    detailBox,
  );

  // --- summary ---------------------------------------------------------------------------------------
  let summaryAt = 0;
  async function loadSummary() {
    const s = await api("GET", "/admin/jobs/summary");
    summaryAt = Date.now();
    const capped = new Set(s.capped_states || []);
    const st = s.states || {};
    const count = (state) => `${st[state] ?? 0}${capped.has(state) ? "+" : ""}`; // "1000+": counting stopped there
    for (const el of tablist.querySelectorAll("[data-count]")) {
      const n = st[el.dataset.count] ?? 0;
      el.textContent = count(el.dataset.count);
      el.setAttribute("aria-label", capped.has(el.dataset.count) ? `at least ${plural(n, "job")}` : plural(n, "job"));
    }
    const dlq = (s.queues || []).reduce((n, q) => n + ((q.dead_letter && q.dead_letter.messages) || 0), 0);
    clear(
      stats,
      [
        ["Queued", count("queued")],
        ["Running", count("running")],
        ["Stuck", s.stuck ?? 0],
        ["Failed", count("failed")],
        ["Succeeded", count("succeeded")],
        ["In dead-letter queues", dlq],
      ].map(([label, n]) => h("div", { class: "stat" }, h("b", {}, String(n)), h("span", {}, label))),
    );
  }

  // --- trends (GET /admin/metrics/jobs) ----------------------------------------------------------------
  const typeBoxes = new Map(); // job type → its three chart boxes, kept across refreshes (an opened table stays open)
  let trendsFailed = false;
  async function loadTrends() {
    if (!trends.open) return; // folded away: no metrics read until it is opened again
    const range = RANGES.find((r) => r.id === trendRange.value) || RANGES[1];
    let out;
    try {
      out = await api("GET", `/admin/metrics/jobs${qs(rangeParams(range.ms, range.step))}`);
    } catch (err) {
      if (!trendsFailed) fail(null, err, { action: "load the job trends", area: `${AREA}.trends`, context: { range: range.id } });
      trendsFailed = true; // reported once; the next refresh tries again quietly
      clear(trendBody, h("p", { class: "alert alert-error" }, `Could not load the trends: ${reason(err)}`));
      return;
    }
    trendsFailed = false;
    const series = [...(out.series || [])].sort((a, b) => a.type.localeCompare(b.type));
    if (!series.length) {
      typeBoxes.clear();
      clear(trendBody, h("p", { class: "empty" }, "No jobs in this range."));
      return;
    }
    const seen = new Set(series.map((s) => s.type));
    for (const type of [...typeBoxes.keys()]) if (!seen.has(type)) typeBoxes.delete(type);
    const blocks = series.map((s) => {
      let boxes = typeBoxes.get(s.type);
      if (!boxes) {
        boxes = { throughput: h("div"), run: h("div"), wait: h("div") };
        boxes.el = h("section", { class: "job-type-trends", "data-job-type": s.type }, h("h3", {}, s.type), h("div", { class: "charts" }, boxes.throughput, boxes.run, boxes.wait));
        typeBoxes.set(s.type, boxes);
      }
      const base = { step: out.step, times: s.buckets.map((b) => b.t) };
      const runs = column(s.buckets, "run_ms.count").reduce((a, b) => a + (b || 0), 0);
      const waits = column(s.buckets, "wait_ms.count").reduce((a, b) => a + (b || 0), 0);
      mountChart(boxes.throughput, {
        ...base,
        id: `jobs-throughput-${s.type}`,
        title: `${s.type}: throughput and failures`,
        series: [
          { name: "Succeeded", kind: "bar", tone: "ok", values: column(s.buckets, "succeeded") },
          { name: "Failed", kind: "bar", tone: "bad", values: column(s.buckets, "failed") },
          { name: "Retried", kind: "line", tone: "warn", values: column(s.buckets, "retried") },
        ],
      });
      mountChart(boxes.run, {
        ...base,
        id: `jobs-run-${s.type}`,
        title: `${s.type}: run time`,
        format: "ms",
        note: `${runs} run${runs === 1 ? "" : "s"} measured (start to success or failure); p50/p95 from histogram buckets.`,
        series: [
          { name: "p50", kind: "line", tone: "primary", aggregate: "max", values: column(s.buckets, "run_ms.p50") },
          { name: "p95", kind: "line", tone: "alt", aggregate: "max", values: column(s.buckets, "run_ms.p95") },
        ],
      });
      mountChart(boxes.wait, {
        ...base,
        id: `jobs-wait-${s.type}`,
        title: `${s.type}: wait time (queued to started)`,
        format: "ms",
        note: `${waits} start${waits === 1 ? "" : "s"} measured.`,
        series: [
          { name: "p50", kind: "line", tone: "primary", aggregate: "max", values: column(s.buckets, "wait_ms.p50") },
          { name: "p95", kind: "line", tone: "alt", aggregate: "max", values: column(s.buckets, "wait_ms.p95") },
        ],
      });
      return boxes.el;
    });
    trendBody.replaceChildren(...blocks);
  }
  trends.addEventListener("toggle", () => {
    if (trends.open) loadTrends();
  });
  trendRange.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("trend", trendRange.value);
    history.replaceState(null, "", url);
    loadTrends();
  });

  // --- list ------------------------------------------------------------------------------------------
  let rows = [];
  let nextToken = null;
  let extended = false; // more pages loaded by hand: auto-refresh then updates the counts only
  async function loadList(more = false) {
    const tab = active;
    const state = tab.state === "running" && onlyStuck ? "stuck" : tab.state;
    const page = await api("GET", `/admin/jobs${qs({ state, limit: 50, next_token: more ? nextToken : null })}`);
    if (tab !== active) return; // a stale answer for another tab
    rows = more ? rows.concat(page.items) : page.items;
    extended = more;
    nextToken = page.next_token;
    renderList();
  }

  function actionButtons(job) {
    const out = [];
    // A stuck queued job lost its message: a retry sends it again (the ledger lets one run win).
    if (job.state === "failed" || job.state === "cancelled" || (job.state === "queued" && job.stuck)) {
      out.push(h("button", { type: "button", class: "btn small", onclick: (ev) => retry(job, ev.currentTarget) }, "Retry", h("span", { class: "visually-hidden" }, ` job ${job.job_id}`)));
    }
    if (job.state === "queued" || job.state === "failed" || (job.state === "running" && job.stuck)) {
      out.push(h("button", { type: "button", class: "btn secondary small", onclick: (ev) => cancel(job, ev.currentTarget) }, "Cancel", h("span", { class: "visually-hidden" }, ` job ${job.job_id}`)));
    }
    return out.length ? h("div", { class: "actions" }, out) : null;
  }

  /** What has keyboard focus in the list (row + control), so a refresh can put it back. */
  function focusKey() {
    const el = document.activeElement;
    if (!el || !panel.contains(el)) return null;
    const tr = el.closest("tr[data-job-id]");
    return { id: tr ? tr.dataset.jobId : null, text: el.textContent, tag: el.tagName };
  }

  function restoreFocus(key) {
    if (!key) return;
    const scope = key.id ? panel.querySelector(`tr[data-job-id="${CSS.escape(key.id)}"]`) : panel;
    const match = scope && [...scope.querySelectorAll("button, input, a")].find((x) => x.tagName === key.tag && x.textContent === key.text);
    (match || panel).focus();
  }

  function renderList() {
    const key = focusKey();
    const stuckToggle =
      active.state === "running"
        ? h("label", { class: "row small" }, h("input", { type: "checkbox", checked: onlyStuck, onchange: (ev) => { onlyStuck = ev.target.checked; refresh(); } }), "Only stuck jobs")
        : null;
    clear(
      panel,
      stuckToggle,
      table(
        [
          { label: "Job", class: "id-cell", render: (j) => h("button", { type: "button", class: "link mono", onclick: () => showDetail(j.job_id) }, j.job_id) },
          { label: "Type", class: "type-cell", render: (j) => j.type },
          { label: "State", render: (j) => stateBadge(j) },
          { label: "Entity", class: "wrap-any", render: (j) => entityText(j.entity) },
          { label: "Attempts", render: (j) => String(j.attempts) },
          { label: "Last error", class: "error-cell", render: (j) => (j.last_error ? clipText(j.last_error.message || j.last_error.type, 140) : "") },
          { label: "Updated", render: (j) => fmtDateTime(j.updated_at) },
          { label: "Actions", class: "actions-cell", render: actionButtons },
        ],
        rows,
        { caption: `${active.label} jobs`, empty: `No ${active.label.toLowerCase()} jobs.`, rowAttrs: (j) => ({ "data-job-id": j.job_id }) },
      ),
      nextToken ? h("div", { class: "actions" }, h("button", { type: "button", class: "btn secondary", onclick: () => loadList(true).catch((e) => fail(messages, e, { action: "load more jobs", area: `${AREA}.list` })) }, "Load more")) : null,
    );
    restoreFocus(key);
  }

  let again = false;
  let countsWanted = false;
  /** The list, and the counts unless a timer tick comes before SUMMARY_MS (they cost a few index queries). */
  async function refresh(withCounts = true) {
    countsWanted = countsWanted || withCounts;
    if (loading) {
      again = true; // the tab or a filter changed mid-load: load once more when this one ends
      return;
    }
    loading = true;
    try {
      do {
        again = false;
        const counts = countsWanted;
        countsWanted = false;
        await Promise.all([counts ? loadSummary() : null, counts ? loadTrends() : null, loadList()]);
      } while (again);
      refreshed.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      fail(messages, err, { action: "load the jobs", area: `${AREA}.list`, context: { tab: active.id } });
    } finally {
      loading = false;
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(() => {
      if (!main.isConnected) return clearInterval(timer);
      if (!auto.checked || document.hidden || paused || document.querySelector("dialog[open]")) return;
      const countsDue = Date.now() - summaryAt >= SUMMARY_MS;
      if (extended) {
        if (countsDue) Promise.all([loadSummary(), loadTrends()]).catch(() => {});
      } else refresh(countsDue);
    }, REFRESH_MS);
  }
  auto.addEventListener("change", schedule);

  // --- actions ---------------------------------------------------------------------------------------
  async function retry(job, button) {
    paused += 1;
    try {
      await busy(button, "Retrying…", async () => {
        try {
          await api("POST", `/admin/jobs/${encodeURIComponent(job.job_id)}/retry`);
          messages.set("ok", `Job ${job.job_id} (${job.type}) is queued again.`);
        } catch (err) {
          fail(messages, err, { action: `retry job ${job.job_id}`, area: `${AREA}.retry`, entities: [{ type: "job", id: job.job_id }] });
        }
      });
    } finally {
      paused -= 1;
    }
    await refresh();
  }

  async function cancel(job, button) {
    paused += 1;
    try {
      const ok = await confirmDialog({
        title: `Cancel job ${job.job_id}?`,
        body: `The ${job.type} job${job.entity ? ` for ${entityText(job.entity)}` : ""} will not run. You can retry it later from the Cancelled tab.`,
        confirm: "Cancel job",
        danger: true,
      });
      if (!ok) return;
      await busy(button, "Cancelling…", async () => {
        try {
          await api("DELETE", `/admin/jobs/${encodeURIComponent(job.job_id)}`);
          messages.set("ok", `Job ${job.job_id} is cancelled.`);
        } catch (err) {
          fail(messages, err, { action: `cancel job ${job.job_id}`, area: `${AREA}.cancel`, entities: [{ type: "job", id: job.job_id }] });
        }
      });
    } finally {
      paused -= 1;
    }
    await refresh();
  }

  async function showDetail(jobId) {
    try {
      const j = await api("GET", `/admin/jobs/${encodeURIComponent(jobId)}`);
      const url = new URL(location.href);
      url.searchParams.set("job", jobId);
      history.replaceState(null, "", url);
      const incidents = h("div", { "data-job-incidents": jobId });
      const loadIncidents = async (rows = [], next = undefined) => {
        try {
          const page = await api("GET", `/admin/jobs/${encodeURIComponent(jobId)}/incidents${qs({ limit: 20, next_token: next })}`);
          const all = rows.concat(page.items);
          clear(
            incidents,
            table(
              [
                { label: "When", render: (i) => fmtDateTime(i.received_at) },
                { label: "Incident", render: (i) => h("a", { href: apiPath(`/console/admin/incidents?status=all&group=${encodeURIComponent(i.group_id)}`) }, clipText(i.group.title || i.message, 140)) },
                { label: "Group status", render: (i) => (i.group.status ? badge(i.group.status, i.group.status === "resolved" ? "ok" : i.group.status === "open" ? "bad" : "warn") : "") },
              ],
              all,
              { caption: "Incidents this job filed", empty: "This job filed no incident.", rowAttrs: (i) => ({ "data-incident-id": i.id }) },
            ),
            page.next_token ? h("div", { class: "actions" }, h("button", { type: "button", class: "btn secondary small", onclick: () => loadIncidents(all, page.next_token) }, "Older incidents")) : null,
          );
        } catch (err) {
          fail(messages, err, { action: `load job ${jobId}'s incidents`, area: `${AREA}.incidents`, entities: [{ type: "job", id: jobId }] });
        }
      };
      loadIncidents();
      const dl = (pairs) => h("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
      const section = h(
        "section",
        { class: "card", "aria-labelledby": "job-h", tabindex: "-1" },
        h("h2", { id: "job-h" }, `Job ${j.job_id}`),
        dl([
          ["Type", j.type],
          ["State", stateBadge(j)],
          ["Entity", entityText(j.entity)],
          ["Attempts", String(j.attempts)],
          ["Queue", j.queue],
          ["Created", fmtDateTime(j.created_at)],
          ["Started", j.started_at && fmtDateTime(j.started_at)],
          ["Finished", j.finished_at && fmtDateTime(j.finished_at)],
          ["Heartbeat", j.heartbeat_at && fmtDateTime(j.heartbeat_at)],
        ]),
        h("div", { class: "actions" }, actionButtons(j)),
        (j.errors || []).length ? [h("h3", {}, "Errors"), h("pre", {}, (j.errors || []).map((e) => `#${e.attempt} ${e.at || ""} ${e.type}: ${e.message}`).join("\n"))] : null,
        h("h3", {}, "Payload"),
        h("pre", {}, JSON.stringify(j.payload, null, 2)),
        j.result !== null && j.result !== undefined ? [h("h3", {}, "Result"), h("pre", {}, JSON.stringify(j.result, null, 2))] : null,
        h("h3", {}, "Incidents"),
        incidents,
      );
      clear(detailBox, section);
      section.focus();
    } catch (err) {
      fail(messages, err, { action: `open job ${jobId}`, area: `${AREA}.detail`, entities: [{ type: "job", id: jobId }] });
    }
  }

  // --- bulk retry ------------------------------------------------------------------------------------
  function renderBulk() {
    if (active.state !== "failed" && active.state !== "cancelled") {
      bulkBox.replaceChildren();
      return;
    }
    const type = h("input", { type: "text", name: "type", placeholder: "e.g. ProcessVideoProof", autocomplete: "off" });
    const contains = h("input", { type: "text", name: "error_contains", placeholder: "e.g. timeout", autocomplete: "off" });
    const result = h("div", { "aria-live": "polite" });
    const form = h(
      "form",
      { class: "grid" },
      field("Job type", type, "(optional)"),
      field("Error contains", contains, "(optional)"),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "btn secondary" }, "Preview")),
    );
    const state = active.state;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const filter = { type: type.value.trim() || undefined, error_contains: contains.value.trim() || undefined, state };
      busy(form.querySelector("[type=submit]"), "Checking…", async () => {
        result.replaceChildren();
        let matched = 0;
        let sample = [];
        let token = null;
        let windows = 0;
        try {
          do {
            const out = await api("POST", "/admin/jobs/retry", { ...filter, apply: false, next_token: token || undefined });
            matched += out.matched;
            if (sample.length < 10) sample = sample.concat(out.sample).slice(0, 10);
            token = out.next_token;
            windows += 1;
          } while (token && windows < 20);
        } catch (err) {
          fail(messages, err, { action: "preview the bulk retry", area: `${AREA}.bulk_retry.preview`, context: filter });
          return;
        }
        const more = token ? " (or more: the preview stopped counting)" : "";
        if (!matched) {
          clear(result, h("p", { class: "alert alert-info" }, `No ${state} jobs match.`));
          return;
        }
        const needsFilter = !filter.type && !filter.error_contains;
        const apply = h("button", { type: "button", class: "btn", disabled: needsFilter }, `Retry ${plural(matched, "job")}`);
        apply.addEventListener("click", () => applyBulk(filter, matched, apply, result));
        clear(
          result,
          h(
            "div",
            { class: "alert alert-info" },
            h("p", {}, `${plural(matched, `${state} job`)} match${matched === 1 ? "es" : ""}${more}.`),
            h("ul", { class: "sample" }, sample.map((j) => h("li", {}, h("span", { class: "mono" }, j.job_id), ` ${j.type}`, j.last_error ? ` — ${j.last_error.message.slice(0, 120)}` : ""))),
            needsFilter ? h("p", {}, "To retry, narrow the selection with a job type or error text first.") : null,
            h("div", { class: "actions" }, apply),
          ),
        );
      });
    });
    clear(bulkBox, h("details", { class: "card" }, h("summary", {}, `Bulk retry ${state} jobs`), form, result));
  }

  async function applyBulk(filter, expected, button, result) {
    paused += 1;
    try {
      const ok = await confirmDialog({ title: `Retry ${plural(expected, "job")}?`, body: "Each matching job is queued again with a fresh message.", confirm: "Retry them" });
      if (!ok) return;
      await busy(button, "Retrying…", async () => {
        let retried = 0;
        let skipped = 0;
        let token = null;
        let calls = 0;
        try {
          do {
            const out = await api("POST", "/admin/jobs/retry", { ...filter, apply: true, limit: 100, next_token: token || undefined });
            retried += (out.retried || []).length;
            skipped += (out.skipped || []).length;
            token = out.next_token;
            calls += 1;
          } while (token && calls < 100);
          clear(result, h("p", { class: "alert alert-ok" }, `Queued ${plural(retried, "job")} again.${skipped ? ` ${skipped} skipped (already queued, or not retryable).` : ""}`));
        } catch (err) {
          fail(messages, err, { action: "retry the selected jobs", area: `${AREA}.bulk_retry.apply`, context: { ...filter, retried } });
        }
      });
    } finally {
      paused -= 1;
    }
    await refresh();
  }

  select(active, false);
  schedule();
  if (params.get("job")) showDetail(params.get("job"));
}
