// Admin > Insights > Alerts: alert rules (create, edit, enable/disable, delete), channels (the email topic and
// webhooks, shown masked: the URL is a secret kept in SSM), email subscriptions, and the alert log.
import { api, qs } from "./api.js";
import { badge, busy, clear, confirmDialog, fail, field, fmtDateTime, h, loadAll, messageArea, table } from "./ui.js";

const AREA = "admin.insights.alerts";
const KINDS = {
  "incident.new": [],
  "incident.regression": [],
  "incident.spike": ["count", "minutes"],
  "job.first_failure": [],
  "job.failure_rate": ["rate", "window_minutes", "min_jobs"],
  "job.stuck": ["minutes"],
  "job.waiting": ["minutes"],
  "dlq.not_empty": [],
  "monitor.missed_run": [],
  "monitor.failed_run": [],
};
const STATE = { sent: "ok", queued: "warn", failed: "bad", suppressed: "muted" };

function scopeText(s) {
  return [s.area && `area ${s.area}*`, s.job_type && `job ${s.job_type}`, s.source && `source ${s.source}`].filter(Boolean).join(", ") || "everything";
}

export async function render(main, { title }) {
  const messages = messageArea();
  const rulesOut = h("div", {});
  const channelsOut = h("div", {});
  const subsOut = h("div", {});
  const logOut = h("div", {});
  let channels = [];

  // --- the rule form (create, or edit one) ------------------------------------------------------------
  const fId = h("input", { name: "id", type: "text", maxlength: "64", pattern: "[A-Za-z0-9_\\-]+", autocomplete: "off" });
  const fName = h("input", { name: "name", type: "text", required: true, maxlength: "120" });
  const fKind = h("select", { name: "kind" }, ...Object.keys(KINDS).map((k) => h("option", { value: k }, k)));
  const fArea = h("input", { name: "area", type: "text", maxlength: "200", placeholder: "customers.homework" });
  const fJob = h("input", { type: "text", maxlength: "100" });
  const fSource = h("input", { type: "text", maxlength: "40", placeholder: "backend" });
  const fParams = h("div", { class: "grid" });
  const fChannels = h("div", { class: "checks" });
  const fDigest = h("input", { type: "number", min: "1", max: "10080", value: "60" });
  const fEnabled = h("input", { type: "checkbox", checked: true });
  const submit = h("button", { type: "submit", class: "btn" }, "Save rule");
  const cancelEdit = h("button", { type: "button", class: "btn secondary", hidden: true }, "Cancel edit");
  let editing = null;

  function paramInputs(values = {}) {
    clear(fParams, ...KINDS[fKind.value].map((p) => field(p, h("input", { type: "number", step: "any", name: p, value: values[p] ?? "" }))));
  }
  function channelChecks(selected = ["email"]) {
    clear(fChannels, ...channels.map((c) => h("label", { class: "check" }, h("input", { type: "checkbox", value: c.id, checked: selected.includes(c.id) }), ` ${c.name} (${c.id})`)));
  }
  fKind.addEventListener("change", () => paramInputs());

  const form = h(
    "form",
    { class: "grid", "data-form": "rule" },
    field("Id", fId, "(optional; the same id again is a no-op)"),
    field("Name", fName),
    field("Kind", fKind),
    field("Area prefix", fArea, "(empty: any)"),
    field("Job type", fJob, "(empty: any)"),
    field("Source", fSource, "(empty: any)"),
    h("div", { class: "field wide" }, h("span", {}, "Parameters"), fParams),
    h("div", { class: "field wide" }, h("span", {}, "Channels"), fChannels),
    field("Digest every (min)", fDigest),
    h("label", { class: "check" }, fEnabled, " Enabled"),
    h("div", { class: "actions" }, submit, cancelEdit),
  );
  const formCard = h("details", { class: "card" }, h("summary", {}, "New rule"), form, h("p", { class: "muted small" }, "Each (rule, subject) notifies at its 1st, 10th, 100th … occurrence; the others go into a digest sent at most once per period."));

  function resetForm() {
    editing = null;
    form.reset();
    fId.disabled = false;
    fDigest.value = "60";
    fEnabled.checked = true;
    cancelEdit.hidden = true;
    formCard.querySelector("summary").textContent = "New rule";
    paramInputs();
    channelChecks();
  }
  cancelEdit.addEventListener("click", resetForm);

  function edit(rule) {
    editing = rule.id;
    fId.value = rule.id;
    fId.disabled = true;
    fName.value = rule.name;
    fKind.value = rule.kind;
    fArea.value = rule.scope.area || "";
    fJob.value = rule.scope.job_type || "";
    fSource.value = rule.scope.source || "";
    fDigest.value = String(rule.digest_minutes);
    fEnabled.checked = rule.enabled;
    paramInputs(rule.params);
    channelChecks(rule.channels);
    cancelEdit.hidden = false;
    formCard.querySelector("summary").textContent = `Edit rule ${rule.id}`;
    formCard.open = true;
    fName.focus();
  }

  function body() {
    const params = {};
    for (const input of fParams.querySelectorAll("input")) if (input.value !== "") params[input.name] = Number(input.value);
    const scope = {};
    if (fArea.value.trim()) scope.area = fArea.value.trim();
    if (fJob.value.trim()) scope.job_type = fJob.value.trim();
    if (fSource.value.trim()) scope.source = fSource.value.trim();
    return {
      name: fName.value.trim(),
      kind: fKind.value,
      scope,
      params,
      channels: [...fChannels.querySelectorAll("input:checked")].map((i) => i.value),
      digest_minutes: Number(fDigest.value || 60),
      enabled: fEnabled.checked,
    };
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const b = body();
    busy(submit, "Saving…", async () => {
      try {
        if (editing) await api("PUT", `/admin/alerts/rules/${encodeURIComponent(editing)}`, b);
        else await api("POST", "/admin/alerts/rules", fId.value.trim() ? { ...b, id: fId.value.trim() } : b);
        messages.set("ok", `Saved the rule “${b.name}”.`);
        resetForm();
        formCard.open = false;
        await showRules();
      } catch (err) {
        fail(messages, err, { action: "save the rule", area: `${AREA}.rule`, context: { kind: b.kind } });
      }
    });
  });

  // --- rules ------------------------------------------------------------------------------------------
  async function showRules() {
    try {
      const rules = await loadAll(api, "/admin/alerts/rules");
      clear(
        rulesOut,
        table(
          [
            { label: "Rule", render: (r) => h("span", {}, h("strong", {}, r.name), h("br"), h("span", { class: "muted small" }, r.id)) },
            { label: "Kind", render: (r) => r.kind },
            { label: "Scope", render: (r) => scopeText(r.scope) },
            { label: "Params", render: (r) => Object.entries(r.params).map(([k, v]) => `${k} ${v}`).join(", ") },
            { label: "Channels", render: (r) => r.channels.join(", ") },
            { label: "State", render: (r) => badge(r.enabled ? "enabled" : "disabled", r.enabled ? "ok" : "muted") },
            {
              label: "Actions",
              render: (r) => {
                const e = h("button", { type: "button", class: "btn secondary small" }, "Edit");
                e.addEventListener("click", () => edit(r));
                const t = h("button", { type: "button", class: "btn secondary small" }, r.enabled ? "Disable" : "Enable");
                t.addEventListener("click", () =>
                  busy(t, "…", async () => {
                    const { id, created_at, updated_at, ...rest } = r;
                    try {
                      await api("PUT", `/admin/alerts/rules/${encodeURIComponent(id)}`, { ...rest, enabled: !r.enabled });
                      await showRules();
                    } catch (err) {
                      fail(messages, err, { action: "change the rule", area: `${AREA}.rule`, entities: { alert_rule: id } });
                    }
                  }),
                );
                const d = h("button", { type: "button", class: "btn danger small" }, "Delete");
                d.addEventListener("click", async () => {
                  if (!(await confirmDialog({ title: "Delete this rule?", body: `“${r.name}” stops notifying. Its log stays.`, confirm: "Delete", danger: true }))) return;
                  await busy(d, "…", async () => {
                    try {
                      await api("DELETE", `/admin/alerts/rules/${encodeURIComponent(r.id)}`);
                      await showRules();
                    } catch (err) {
                      fail(messages, err, { action: "delete the rule", area: `${AREA}.rule`, entities: { alert_rule: r.id } });
                    }
                  });
                });
                return h("span", { class: "actions" }, e, t, d);
              },
            },
          ],
          rules,
          { caption: "Alert rules", empty: "No rules.", rowAttrs: (r) => ({ "data-rule": r.id }) },
        ),
      );
    } catch (err) {
      fail(messages, err, { action: "load the rules", area: `${AREA}.rules` });
    }
  }

  // --- channels ---------------------------------------------------------------------------------------
  const wId = h("input", { name: "id", type: "text", maxlength: "64", pattern: "[A-Za-z0-9_\\-]+", autocomplete: "off" });
  const wName = h("input", { name: "name", type: "text", required: true, maxlength: "120" });
  const wUrl = h("input", { name: "url", type: "url", required: true, maxlength: "2048", autocomplete: "off", spellcheck: "false" });
  const wForm = h(
    "form",
    { class: "grid", "data-form": "webhook" },
    field("Id", wId, "(optional)"),
    field("Name", wName),
    field("Webhook URL", wUrl, "(https://hooks.slack.com/…; shown once, kept as a secret)"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Add webhook")),
  );
  wForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const b = { name: wName.value.trim(), url: wUrl.value.trim() };
    if (wId.value.trim()) b.id = wId.value.trim();
    busy(wForm.querySelector("[type=submit]"), "Adding…", async () => {
      try {
        const c = await api("POST", "/admin/alerts/channels", b);
        messages.set("ok", `Added the webhook “${c.name}” (${c.hint}). Pick it in a rule's channels.`);
        wForm.reset();
        await showChannels();
      } catch (err) {
        fail(messages, err, { action: "add the webhook", area: `${AREA}.channel` }); // never the URL in a report
      }
    });
  });

  async function showChannels() {
    try {
      channels = (await api("GET", "/admin/alerts/channels")).items;
      if (!editing) channelChecks();
      clear(
        channelsOut,
        table(
          [
            { label: "Channel", render: (c) => h("span", {}, h("strong", {}, c.name), h("br"), h("span", { class: "muted small" }, c.id)) },
            { label: "Kind", render: (c) => c.kind },
            { label: "Where", render: (c) => c.hint || (c.kind === "email" ? "the stack's alerts topic (subscriptions below)" : "") },
            {
              label: "",
              render: (c) => {
                if (c.kind !== "webhook") return "";
                const d = h("button", { type: "button", class: "btn danger small" }, "Delete");
                d.addEventListener("click", () =>
                  busy(d, "…", async () => {
                    try {
                      await api("DELETE", `/admin/alerts/channels/${encodeURIComponent(c.id)}`);
                      await showChannels();
                    } catch (err) {
                      fail(messages, err, { action: "delete the channel", area: `${AREA}.channel`, entities: { alert_channel: c.id } });
                    }
                  }),
                );
                return d;
              },
            },
          ],
          channels,
          { caption: "Channels", rowAttrs: (c) => ({ "data-channel": c.id }) },
        ),
        h("details", { class: "card" }, h("summary", {}, "Add a webhook (Slack-compatible)"), wForm),
      );
    } catch (err) {
      fail(messages, err, { action: "load the channels", area: `${AREA}.channels` });
    }
  }

  // --- email subscriptions ----------------------------------------------------------------------------
  const sEmail = h("input", { type: "email", required: true, maxlength: "254" });
  const sForm = h("form", { class: "grid", "data-form": "subscription" }, field("Email", sEmail), h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Subscribe")));
  sForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(sForm.querySelector("[type=submit]"), "Subscribing…", async () => {
      try {
        const s = await api("POST", "/admin/alerts/email-subscriptions", { email: sEmail.value.trim() });
        messages.set("ok", s.status === "pending" ? `SNS sent ${s.email} a confirmation link; alerts start once it is clicked.` : `${s.email} is subscribed.`);
        sForm.reset();
        await showSubs();
      } catch (err) {
        fail(messages, err, { action: "subscribe the address", area: `${AREA}.subscription` });
      }
    });
  });

  async function showSubs() {
    try {
      const got = await api("GET", "/admin/alerts/email-subscriptions");
      clear(
        subsOut,
        table(
          [
            { label: "Email", render: (s) => s.email },
            { label: "Status", render: (s) => badge(s.status, s.status === "confirmed" ? "ok" : "warn") },
            {
              label: "",
              render: (s) => {
                if (!s.subscription_id) return h("span", { class: "muted small" }, "expires unconfirmed after 3 days");
                const d = h("button", { type: "button", class: "btn danger small" }, "Unsubscribe");
                d.addEventListener("click", () =>
                  busy(d, "…", async () => {
                    try {
                      await api("DELETE", `/admin/alerts/email-subscriptions/${encodeURIComponent(s.subscription_id)}`);
                      await showSubs();
                    } catch (err) {
                      fail(messages, err, { action: "unsubscribe", area: `${AREA}.subscription` });
                    }
                  }),
                );
                return d;
              },
            },
          ],
          got.items,
          { caption: "Email subscriptions", empty: "Nobody is subscribed: email alerts reach no one." },
        ),
        sForm,
      );
    } catch (err) {
      fail(messages, err, { action: "load the email subscriptions", area: `${AREA}.subscriptions` });
    }
  }

  // --- the alert log ----------------------------------------------------------------------------------
  async function showLog(token = null) {
    try {
      const got = await api("GET", `/admin/alerts/log${qs({ limit: 50, next_token: token })}`);
      const next = got.next_token ? h("button", { type: "button", class: "btn" }, "Older") : null;
      clear(
        logOut,
        table(
          [
            { label: "At", render: (r) => fmtDateTime(r.at) },
            { label: "Rule", render: (r) => r.rule_name || r.rule_id },
            { label: "Subject", render: (r) => r.subject },
            { label: "Occurrence", render: (r) => (r.digest_count ? `digest of ${r.digest_count}` : `#${r.n ?? "?"} ${r.occurrence}`) },
            { label: "Channel", render: (r) => r.channel },
            { label: "State", render: (r) => badge(r.state, STATE[r.state] || "") },
            { label: "Attempts", render: (r) => String(r.attempts) },
            { label: "Error", render: (r) => r.error || "" },
          ],
          got.items,
          { caption: "Alert log (newest first)", empty: "No notifications yet.", rowAttrs: (r) => ({ "data-log-state": r.state }) },
        ),
        next,
      );
      if (next) next.addEventListener("click", () => busy(next, "Loading…", () => showLog(got.next_token)));
    } catch (err) {
      fail(messages, err, { action: "load the alert log", area: `${AREA}.log` });
    }
  }

  const refresh = h("button", { type: "button", class: "btn" }, "Refresh");
  refresh.addEventListener("click", () => busy(refresh, "Loading…", () => Promise.all([showRules(), showChannels(), showSubs(), showLog()])));
  clear(
    main,
    h("h1", {}, title),
    messages.el,
    h("div", { class: "actions" }, refresh),
    h("section", { "data-section": "rules" }, h("h2", {}, "Rules"), formCard, rulesOut),
    h("section", { "data-section": "channels" }, h("h2", {}, "Channels"), channelsOut),
    h("section", { "data-section": "subscriptions" }, h("h2", {}, "Email subscriptions"), subsOut),
    h("section", { "data-section": "log" }, h("h2", {}, "Alert log"), logOut),
  );
  await showChannels();
  resetForm();
  await Promise.all([showRules(), showSubs(), showLog()]);
}
