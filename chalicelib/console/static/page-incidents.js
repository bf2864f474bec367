// Incident Hub: groups (count, first and last seen) with filters; a group's incidents with the raw
// backend error; resolve and reopen; snooze (until a time, N more, or a spike), assign, notes and the
// group's timeline; search by entity; the group's jobs and entities with their state, "verified fixed",
// and "retry these jobs" (a dry run first). Trends: a 24 h sparkline on every group (ONE GET
// /admin/metrics/incidents for the whole list, mapped by group_id) and a chart on the group page with its
// resolve and reopen moments (from the group's timeline) marked.
import { api, apiPath, qs, reason } from "./api.js";
import { chart, column, mountChart, rangeParams } from "./charts.js";
import { badge, busy, clear, clipText, confirmDialog, fail, field, fmtDateTime, h, messageArea, plural, table } from "./ui.js";

const AREA = "admin.incidents";
const DAY_MS = 86_400_000;
const GROUP_RANGES = [
  { id: "24h", label: "Last 24 hours", ms: DAY_MS },
  { id: "7d", label: "Last 7 days", ms: 7 * DAY_MS },
  { id: "30d", label: "Last 30 days", ms: 30 * DAY_MS },
];
const MARKED = { resolved: "Resolved", reopened: "Reopened" };
const TIMELINE_PAGES = 5; // 5 × 100: a group's whole timeline (TIMELINE_MAX is 500)

/** A bucket's incidents: the stored ones and the ones only counted (suppressed). */
function incidentsIn(buckets) {
  const stored = column(buckets, "stored");
  const suppressed = column(buckets, "suppressed");
  return stored.map((v, i) => (v ?? 0) + (suppressed[i] ?? 0));
}

function statusBadge(g) {
  if (g.status === "snoozed") return badge("snoozed", "warn");
  return g.status === "resolved" ? badge("resolved", "ok") : badge("open", "bad");
}

function jobBadge(state) {
  if (!state) return badge("gone", "warn");
  if (state.stuck) return badge(`stuck ${state.state}`, "bad");
  return badge(state.state, { failed: "bad", succeeded: "ok", running: "info", cancelled: "warn" }[state.state] || "");
}

function consoleLink(item, text) {
  return item.console_path ? h("a", { href: apiPath(item.console_path) }, text) : h("span", {}, text);
}

function json(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function snoozeText(g) {
  if (g.snooze_spike) return `until ${g.snooze_spike.incidents} incidents within ${g.snooze_spike.minutes} minutes (${g.snooze_spike.counted} in the current window)`;
  return g.snooze_left ? `until ${g.snooze_left} more incidents` : `until ${fmtDateTime(g.snooze_until)}`;
}

function verifiedText(g) {
  if (g.verified_fixed === undefined || g.verified_fixed === null || !g.jobs_checked) return "";
  if (g.verified_fixed) return h("span", {}, badge("verified fixed", "ok"), ` ${fmtDateTime(g.verified_fixed_at)}: ${plural(g.verified_jobs.length, "job")} succeeded since`);
  if (g.jobs_capped) return "not checked: more jobs than one read covers";
  return `not yet: ${plural((g.unfixed_jobs || []).length, "job")} not succeeded since`;
}

export async function render(main, { title }) {
  const messages = messageArea();
  const params = new URLSearchParams(location.search);
  const fStatus = h("select", { name: "status" }, h("option", { value: "open" }, "Open"), h("option", { value: "resolved" }, "Resolved"), h("option", { value: "snoozed" }, "Snoozed"), h("option", { value: "" }, "All"));
  fStatus.value = params.get("status") === "all" ? "" : params.get("status") || "open";
  const fSource = h("select", { name: "source" }, h("option", { value: "" }, "Any source"), h("option", { value: "frontend" }, "Reported by pages"), h("option", { value: "backend" }, "Backend errors"));
  fSource.value = params.get("source") || "";
  const fArea = h("input", { type: "text", name: "area", placeholder: "e.g. customers.homework.upload", value: params.get("area") || "", autocomplete: "off" });
  const fSince = h("input", { type: "date", name: "since", value: params.get("since") || "" });
  const fTitle = h("input", { type: "search", name: "title", placeholder: "title starts with…", value: params.get("title") || "", autocomplete: "off", maxlength: "200" });
  const fEntityType = h("input", { type: "text", name: "entity_type", placeholder: "e.g. student", value: params.get("entity_type") || "", autocomplete: "off", maxlength: "40" });
  const fEntityId = h("input", { type: "text", name: "entity_id", placeholder: "its id", value: params.get("entity_id") || "", autocomplete: "off", maxlength: "128" });
  const filters = h(
    "form",
    { class: "grid card", role: "search", "aria-label": "Filter incident groups" },
    field("Status", fStatus),
    field("Source", fSource),
    field("Area", fArea, "(exact)"),
    field("Seen since", fSince),
    field("Title", fTitle, "(prefix, any case)"),
    field("Entity type", fEntityType, "(with its id)"),
    field("Entity id", fEntityId),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Filter")),
  );
  const listBox = h("div");
  const moreBox = h("div", { class: "actions" });
  const detailBox = h("div", { id: "group-detail" });
  clear(main, h("h1", {}, title), messages.el, filters, listBox, moreBox, detailBox);

  function syncUrl(extra = {}) {
    const url = new URL(location.href);
    const values = { status: fStatus.value || "all", source: fSource.value, area: fArea.value.trim(), since: fSince.value, title: fTitle.value.trim(), entity_type: fEntityType.value.trim(), entity_id: fEntityId.value.trim(), group: url.searchParams.get("group") || "", ...extra };
    url.search = "";
    for (const [k, v] of Object.entries(values)) if (v) url.searchParams.set(k, v);
    history.replaceState(null, "", url);
  }

  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    syncUrl();
    load();
  });

  let groups = [];
  let nextToken = null;
  let sparks = { times: [], step: "hour", byGroup: new Map() }; // the last 24 h, from one metrics call
  let sparksError = null;
  async function loadSparklines() {
    try {
      const out = await api("GET", `/admin/metrics/incidents${qs(rangeParams(DAY_MS, "hour"))}`);
      const byGroup = new Map();
      for (const s of out.series || []) if (s.group_id) byGroup.set(s.group_id, s.buckets || []);
      const total = Array.isArray(out.total) ? out.total : (out.total && out.total.buckets) || [];
      const any = total.length ? total : (out.series || [])[0]?.buckets || [];
      sparks = { times: any.map((b) => b.t), step: out.step || "hour", byGroup };
      sparksError = null;
    } catch (err) {
      if (!sparksError) fail(null, err, { action: "load the incident trends", area: `${AREA}.trends` });
      sparksError = reason(err);
    }
  }

  function sparkline(g) {
    if (sparksError) return h("span", { class: "muted small" }, "—");
    const buckets = sparks.byGroup.get(g.group_id);
    const values = buckets ? incidentsIn(buckets) : sparks.times.map(() => 0);
    const total = values.reduce((a, b) => a + b, 0);
    return h(
      "div",
      { class: "spark-cell", "data-spark-total": String(total) },
      chart({ title: `${g.title || g.area || g.group_id}: incidents in the last 24 hours`, step: sparks.step, times: buckets ? buckets.map((b) => b.t) : sparks.times, sparkline: true, note: `${total} in 24 h`, series: [{ name: "Incidents", kind: "line", tone: "bad", values }] }),
    );
  }

  async function load(more = false) {
    const q = {
      status: fStatus.value,
      source: fSource.value,
      area: fArea.value.trim(),
      since: fSince.value ? `${fSince.value}T00:00:00Z` : "",
      title: fTitle.value.trim(),
      entity_type: fEntityType.value.trim().toLowerCase(),
      entity_id: fEntityId.value.trim(),
      limit: 50,
      next_token: more ? nextToken : null,
    };
    try {
      const [page] = await Promise.all([api("GET", `/admin/incidents${qs(q)}`), more ? null : loadSparklines()]);
      groups = more ? groups.concat(page.items) : page.items;
      nextToken = page.next_token;
      renderList();
    } catch (err) {
      fail(messages, err, { action: "load the incidents", area: `${AREA}.list`, context: { filters: q } });
    }
  }

  function renderList() {
    const selected = new URLSearchParams(location.search).get("group");
    clear(
      listBox,
      table(
        [
          { label: "Incident", render: (g) => h("div", {}, h("button", { type: "button", class: "link", onclick: () => openGroup(g.group_id) }, clipText(g.title || g.area || g.group_id, 140)), h("div", { class: "muted small" }, g.area || "")) },
          { label: "HTTP", render: (g) => (g.http_status ? String(g.http_status) : "") },
          { label: "Count", render: (g) => String(g.count) },
          { label: "First seen", render: (g) => fmtDateTime(g.first_seen) },
          { label: "Last seen", render: (g) => fmtDateTime(g.last_seen) },
          { label: "Last 24 h", class: "spark-col", render: sparkline },
          { label: "Status", render: (g) => h("span", {}, statusBadge(g), g.regressions ? h("span", { class: "muted small" }, ` reopened ${g.regressions}×`) : null) },
        ],
        groups,
        { caption: "Incident groups", empty: "No incidents match these filters.", rowAttrs: (g) => ({ "data-group-id": g.group_id, class: g.group_id === selected ? "selected" : null }) },
      ),
    );
    clear(moreBox, nextToken ? h("button", { type: "button", class: "btn secondary", onclick: () => load(true) }, "Load more") : null);
  }

  let groupRange = "7d";

  /** The group's resolve and reopen moments, from its whole timeline (oldest first, ≤ 5 pages). */
  async function markers(gpath) {
    const out = [];
    let token;
    for (let i = 0; i < TIMELINE_PAGES; i += 1) {
      const page = await api("GET", `${gpath}/timeline${qs({ limit: 100, next_token: token })}`);
      for (const e of page.items) if (MARKED[e.event]) out.push({ t: e.at, kind: e.event, label: MARKED[e.event] });
      token = page.next_token;
      if (!token) break;
    }
    return out;
  }

  async function openGroup(groupId, { focus = true } = {}) {
    syncUrl({ group: groupId });
    for (const tr of listBox.querySelectorAll("tr[data-group-id]")) tr.classList.toggle("selected", tr.dataset.groupId === groupId);
    try {
      const detail = await api("GET", `/admin/incidents/groups/${encodeURIComponent(groupId)}${qs({ limit: 20 })}`);
      renderGroup(detail, focus);
    } catch (err) {
      fail(messages, err, { action: "open the incident group", area: `${AREA}.group`, entities: [{ type: "incident_group", id: groupId }] });
    }
  }

  function incidentCard(i) {
    const actor = i.actor ? (i.actor.role === "anonymous" ? "anonymous" : `${i.actor.role} ${i.actor.id || ""}`) : "";
    const kv = [
      ["When", fmtDateTime(i.occurred_at || i.received_at)],
      ["Source", i.source],
      ["Who", actor],
      ["HTTP status", i.http_status ? String(i.http_status) : ""],
      ["Where", i.location || ""],
      ["Request id", i.request_id || ""],
      ["Entities", (i.entities || []).map((e) => `${e.type} ${e.id}`).join(", ")],
      ["Browser", i.user_agent || ""],
    ].filter(([, v]) => v);
    return h(
      "article",
      { class: "incident", "data-incident-id": i.id },
      h("p", {}, h("strong", {}, i.message)),
      h("dl", { class: "kv" }, kv.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      i.backend_error !== undefined && i.backend_error !== null ? [h("h4", {}, "Backend error (raw)"), h("pre", { class: "backend-error" }, json(i.backend_error))] : null,
      i.context ? h("details", {}, h("summary", {}, "Context"), h("pre", {}, json(i.context))) : null,
      i.dropped ? h("p", { class: "alert alert-warn" }, `The original report was dropped: ${json(i.dropped)}`) : null,
      repairAction(i),
    );
  }

  /** An integrity finding carries its exact repair: one button carries it out (audited, idempotent). */
  function repairAction(i) {
    const fix = i.context && i.context.repair;
    if (i.source !== "backend" || !String(i.area || "").startsWith("backend.integrity.")) return null;
    if (!fix) return h("p", { class: "muted small" }, "No automatic repair: this needs a person.");
    const button = h("button", { type: "button", class: "btn" }, "Apply repair");
    button.addEventListener("click", () =>
      busy(button, "Repairing…", async () => {
        try {
          const out = await api("POST", "/admin/integrity/repair", { incident_id: i.id });
          messages.set("ok", out.changed ? `Repaired: ${fix.action}.` : "Nothing to do any more: already repaired, or it changed since.");
        } catch (err) {
          fail(messages, err, { action: "apply the repair", area: `${AREA}.repair`, entities: [{ type: "incident", id: i.id }] });
        }
      }),
    );
    return h("div", { class: "actions" }, h("code", { class: "small" }, json(fix)), button);
  }

  function renderGroup(detail, focus) {
    const g = detail.group;
    const note = h("input", { type: "text", maxlength: "1000", "aria-label": "Note (optional)", placeholder: "Note (optional)" });
    const action = g.status === "open" ? "resolve" : "reopen";
    const toggle = h("button", { type: "button", class: action === "resolve" ? "btn" : "btn secondary" }, action === "resolve" ? "Mark resolved" : "Reopen");
    toggle.addEventListener("click", () =>
      busy(toggle, action === "resolve" ? "Resolving…" : "Reopening…", async () => {
        try {
          const body = note.value.trim() ? { note: note.value.trim() } : {};
          const out = await api("POST", `/admin/incidents/groups/${encodeURIComponent(g.group_id)}/${action}`, body);
          messages.set("ok", `${out.group.title || "The group"} is ${out.group.status}${out.changed ? "" : " (it already was)"}.`);
          await load();
          await openGroup(g.group_id, { focus: false });
        } catch (err) {
          fail(messages, err, { action: `${action} the incident group`, area: `${AREA}.${action}`, entities: [{ type: "incident_group", id: g.group_id }] });
        }
      }),
    );
    const gpath = `/admin/incidents/groups/${encodeURIComponent(g.group_id)}`;
    const triage = (button, label, path, body, what) =>
      busy(button, label, async () => {
        try {
          const out = await api("POST", `${gpath}/${path}`, body());
          messages.set("ok", `${what}${out.changed ? "" : " (no change: it already was)"}.`);
          await load();
          await openGroup(g.group_id, { focus: false });
        } catch (err) {
          fail(messages, err, { action: `${path} the incident group`, area: `${AREA}.${path}`, entities: [{ type: "incident_group", id: g.group_id }] });
        }
      });
    const snoozeN = h("input", { type: "number", min: "1", "aria-label": "Snooze until N more incidents", placeholder: "N more incidents" });
    const snoozeUntil = h("input", { type: "datetime-local", "aria-label": "Snooze until" });
    const snoozeBtn = h("button", { type: "button", class: "btn secondary" }, "Snooze");
    snoozeBtn.addEventListener("click", () =>
      triage(snoozeBtn, "Snoozing…", "snooze", () => (snoozeN.value ? { incidents: Number(snoozeN.value) } : { until: new Date(snoozeUntil.value).toISOString() }), "Snoozed"),
    );
    const spikeN = h("input", { type: "number", min: "2", value: "10", "aria-label": "Spike: incidents" });
    const spikeM = h("input", { type: "number", min: "1", max: "1440", value: "10", "aria-label": "Spike: within minutes" });
    const spikeBtn = h("button", { type: "button", class: "btn secondary" }, "Snooze until it spikes");
    spikeBtn.addEventListener("click", () =>
      triage(spikeBtn, "Snoozing…", "snooze", () => ({ spike: { incidents: Number(spikeN.value), minutes: Number(spikeM.value) } }), `Snoozed until ${spikeN.value} incidents within ${spikeM.value} minutes`),
    );
    const assignee = h("input", { type: "text", maxlength: "128", "aria-label": "Assign to (admin id)", placeholder: "admin id", value: g.assignee || "" });
    const assignBtn = h("button", { type: "button", class: "btn secondary" }, "Assign");
    assignBtn.addEventListener("click", () =>
      triage(assignBtn, "Assigning…", "assign", () => ({ assignee: assignee.value.trim() || null }), assignee.value.trim() ? `Assigned to ${assignee.value.trim()}` : "Unassigned"),
    );
    const noteText = h("input", { type: "text", maxlength: "2000", "aria-label": "Timeline note", placeholder: "Add a note to the timeline" });
    const noteBtn = h("button", { type: "button", class: "btn secondary" }, "Add note");
    noteBtn.addEventListener("click", () => triage(noteBtn, "Saving…", "notes", () => ({ note: noteText.value.trim() }), "Note added"));
    const timeline = h("ol", { class: "timeline", "aria-label": "Timeline" });
    const timelineMore = h("div", { class: "actions" });
    const loadTimeline = async (next) => {
      try {
        const page = await api("GET", `${gpath}/timeline${qs({ limit: 50, next_token: next })}`);
        timeline.append(
          ...page.items.map((e) =>
            h("li", {}, `${fmtDateTime(e.at)} ${e.event}${e.actor ? ` by ${e.actor.id || e.actor.role}` : ""}${e.details && e.details.note ? `: ${e.details.note}` : ""}${e.details && e.details.assignee ? ` → ${e.details.assignee}` : ""}${e.event === "notified" && e.details ? `: ${e.details.rule} → ${e.details.channel}` : ""}`),
          ),
        );
        clear(timelineMore, page.next_token ? h("button", { type: "button", class: "btn secondary", onclick: () => loadTimeline(page.next_token) }, "More") : null);
      } catch (err) {
        fail(messages, err, { action: "load the timeline", area: `${AREA}.timeline`, entities: [{ type: "incident_group", id: g.group_id }] });
      }
    };
    loadTimeline(undefined);
    const jobsBox = h("div", { "data-links": "job" });
    const entitiesBox = h("div", { "data-links": "entity" });
    const retryBox = h("div", { class: "actions", "aria-live": "polite" });
    const jobColumns = [
      { label: "Job", class: "id-cell", render: (l) => consoleLink(l, h("span", { class: "mono" }, l.id)) },
      { label: "Type", render: (l) => l.type || "" },
      { label: "State", render: (l) => jobBadge(l.state) },
      { label: "Attempts", render: (l) => (l.state ? String(l.state.attempts) : "") },
      { label: "Last error", class: "error-cell", render: (l) => (l.state && l.state.last_error ? clipText(l.state.last_error.message || l.state.last_error.type, 120) : "") },
      { label: "First seen", render: (l) => fmtDateTime(l.first_seen) },
    ];
    const entityColumns = [
      { label: "Entity", render: (l) => consoleLink(l, `${l.type} ${l.id}`) },
      { label: "Name", render: (l) => (l.state && l.state.name) || "" },
      { label: "State", render: (l) => (l.exists === false ? badge("gone", "warn") : l.state && l.state.state ? String(l.state.state) : l.exists === null ? "not looked up" : "") },
      { label: "First seen", render: (l) => fmtDateTime(l.first_seen) },
    ];
    const loadLinks = async (kind, box, columns, rows = [], next = undefined) => {
      try {
        const page = await api("GET", `${gpath}/links${qs({ kind, limit: 20, next_token: next })}`);
        const all = rows.concat(page.items);
        clear(
          box,
          table(columns, all, { caption: kind === "job" ? "Jobs its incidents named" : "Entities its incidents named", empty: kind === "job" ? "No jobs named." : "No entities named.", rowAttrs: (l) => ({ [`data-${kind}-id`]: l.id }) }),
          page.next_token ? h("div", { class: "actions" }, h("button", { type: "button", class: "btn secondary small", onclick: () => loadLinks(kind, box, columns, all, page.next_token) }, "More")) : null,
        );
        if (kind === "job") clear(retryBox, all.some((l) => l.state && l.state.state === "failed") ? retryButton() : null);
      } catch (err) {
        fail(messages, err, { action: `load the group's ${kind}s`, area: `${AREA}.links`, entities: [{ type: "incident_group", id: g.group_id }] });
      }
    };
    const retryButton = () => {
      const button = h("button", { type: "button", class: "btn" }, "Retry these jobs");
      button.addEventListener("click", () => previewRetry(button));
      return button;
    };
    /** Dry run first (every page of the group's jobs), then apply after a confirmation. */
    const previewRetry = (button) =>
      busy(button, "Checking…", async () => {
        let jobs = [];
        let token;
        try {
          do {
            const out = await api("POST", `${gpath}/retry-jobs`, { apply: false, next_token: token });
            jobs = jobs.concat(out.jobs);
            token = out.next_token || undefined;
          } while (token && jobs.length < 1000);
        } catch (err) {
          fail(messages, err, { action: "preview retrying the group's jobs", area: `${AREA}.retry_jobs.preview`, entities: [{ type: "incident_group", id: g.group_id }] });
          return;
        }
        if (!jobs.length) {
          clear(retryBox, h("p", { class: "alert alert-info" }, "None of this group's jobs is failed now."));
          return;
        }
        const apply = h("button", { type: "button", class: "btn" }, `Retry ${plural(jobs.length, "job")}`);
        apply.addEventListener("click", () => applyRetry(apply, jobs.length));
        clear(
          retryBox,
          h(
            "div",
            { class: "alert alert-info", "data-retry-preview": "" },
            h("p", {}, `${plural(jobs.length, "failed job")} of this group would be queued again:`),
            h("ul", { class: "sample" }, jobs.slice(0, 20).map((j) => h("li", {}, h("span", { class: "mono" }, j.job_id), ` ${j.type}`, j.last_error ? ` — ${clipText(j.last_error.message, 100)}` : ""))),
            jobs.length > 20 ? h("p", { class: "muted small" }, `…and ${jobs.length - 20} more.`) : null,
            h("div", { class: "actions" }, apply),
          ),
        );
      });
    const applyRetry = async (button, expected) => {
      const ok = await confirmDialog({ title: `Retry ${plural(expected, "job")}?`, body: "Only this group's failed jobs are queued again, each with a fresh message.", confirm: "Retry them" });
      if (!ok) return;
      await busy(button, "Retrying…", async () => {
        let retried = 0;
        let skipped = 0;
        let token;
        try {
          do {
            const out = await api("POST", `${gpath}/retry-jobs`, { apply: true, next_token: token });
            retried += (out.retried || []).length;
            skipped += (out.skipped || []).length;
            token = out.next_token || undefined;
          } while (token);
          messages.set("ok", `Queued ${plural(retried, "job")} of this group again.${skipped ? ` ${skipped} skipped (already queued, or not retryable).` : ""}`);
        } catch (err) {
          fail(messages, err, { action: "retry the group's jobs", area: `${AREA}.retry_jobs.apply`, entities: [{ type: "incident_group", id: g.group_id }] });
        }
        await loadLinks("job", jobsBox, jobColumns);
      });
    };
    loadLinks("job", jobsBox, jobColumns);
    loadLinks("entity", entitiesBox, entityColumns);
    const trendRange = h("select", { class: "chart-range", "aria-label": "Chart range" }, GROUP_RANGES.map((r) => h("option", { value: r.id }, r.label)));
    trendRange.value = groupRange;
    const trendBox = h("div", { class: "group-trend" });
    const drawTrend = async () => {
      groupRange = trendRange.value;
      const range = GROUP_RANGES.find((r) => r.id === groupRange) || GROUP_RANGES[1];
      try {
        const [metrics, marks] = await Promise.all([
          api("GET", `/admin/metrics/incidents${qs({ group: g.group_id, ...rangeParams(range.ms, "hour") })}`),
          markers(gpath),
        ]);
        const s = (metrics.series || []).find((x) => x.group_id === g.group_id) || (metrics.series || [])[0];
        const buckets = s ? s.buckets : Array.isArray(metrics.total) ? metrics.total : [];
        mountChart(trendBox, {
          id: `incident-group-${g.group_id}`,
          title: `Incidents per hour, ${range.label.toLowerCase()}`,
          step: metrics.step || "hour",
          times: buckets.map((b) => b.t),
          markers: marks,
          series: [
            { name: "Stored", kind: "bar", tone: "bad", values: column(buckets, "stored") },
            { name: "Counted only", kind: "bar", tone: "muted", values: column(buckets, "suppressed") },
          ],
        });
      } catch (err) {
        clear(trendBox, h("p", { class: "alert alert-error" }, `Could not load the chart: ${reason(err)}`));
        fail(null, err, { action: "load the group's chart", area: `${AREA}.trends`, entities: [{ type: "incident_group", id: g.group_id }] });
      }
    };
    trendRange.addEventListener("change", drawTrend);
    drawTrend();
    const items = detail.items || [];
    let token = detail.next_token;
    const list = h("div", {}, items.map(incidentCard));
    const more = h("div", { class: "actions" });
    const renderMore = () =>
      clear(
        more,
        token
          ? h("button", {
              type: "button",
              class: "btn secondary",
              onclick: async () => {
                try {
                  const page = await api("GET", `/admin/incidents/groups/${encodeURIComponent(g.group_id)}${qs({ limit: 20, next_token: token })}`);
                  list.append(...page.items.map(incidentCard));
                  token = page.next_token;
                  renderMore();
                } catch (err) {
                  fail(messages, err, { action: "load more incidents", area: `${AREA}.group`, entities: [{ type: "incident_group", id: g.group_id }] });
                }
              },
            }, "Older incidents")
          : null,
      );
    renderMore();
    const section = h(
      "section",
      { class: "card", "aria-labelledby": "group-h", tabindex: "-1", "data-group-id": g.group_id },
      h("h2", { id: "group-h" }, g.title || g.area || "Incident group"),
      h(
        "dl",
        { class: "kv" },
        [
          ["Status", statusBadge(g)],
          ["Area", g.area || ""],
          ["HTTP status", g.http_status ? String(g.http_status) : ""],
          ["Count", `${g.count} (${g.stored} stored${g.suppressed ? `, ${g.suppressed} counted only` : ""})`],
          ["First seen", fmtDateTime(g.first_seen)],
          ["Last seen", fmtDateTime(g.last_seen)],
          ["Resolved", g.resolved_at ? `${fmtDateTime(g.resolved_at)}${g.resolved_by ? ` by ${g.resolved_by.id || g.resolved_by.role}` : ""}${g.resolution_note ? `: ${g.resolution_note}` : ""}` : ""],
          ["Reopened", g.reopened_at ? fmtDateTime(g.reopened_at) : ""],
          ["Snoozed", g.status === "snoozed" ? snoozeText(g) : ""],
          ["Verified fixed", verifiedText(g)],
          ["Assignee", g.assignee || ""],
        ]
          .filter(([, v]) => v)
          .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
      ),
      h("div", { class: "actions" }, note, toggle),
      h("div", { class: "actions" }, snoozeN, snoozeUntil, snoozeBtn),
      h("div", { class: "actions" }, spikeN, h("span", {}, "incidents within"), spikeM, h("span", {}, "minutes"), spikeBtn),
      h("div", { class: "actions" }, assignee, assignBtn),
      h("div", { class: "actions" }, noteText, noteBtn),
      h("h3", {}, "Jobs"),
      jobsBox,
      retryBox,
      h("h3", {}, "Entities"),
      entitiesBox,
      h("div", { class: "row spread" }, h("h3", {}, "Over time"), trendRange),
      trendBox,
      h("h3", {}, "Timeline"),
      timeline,
      timelineMore,
      h("h3", {}, `Incidents (newest first)`),
      items.length ? list : h("p", { class: "empty" }, "No stored incidents in this group."),
      more,
    );
    clear(detailBox, section);
    if (focus) section.focus();
  }

  await load();
  const group = params.get("group");
  if (group) await openGroup(group, { focus: false });
}
